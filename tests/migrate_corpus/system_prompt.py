# expect: migrated=1 left=0
from openai import OpenAI

client = OpenAI()

response = client.chat.completions.create(
    model="fake-model",
    messages=[
        {"role": "system", "content": "You are a pirate."},
        {"role": "user", "content": "Where is the treasure?"},
    ],
    max_tokens=200,
    temperature=0.2,
)
print(response.choices[0].message.content)
print(response.usage.total_tokens > 0)
