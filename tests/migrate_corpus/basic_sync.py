# expect: migrated=1 left=0
from openai import OpenAI

client = OpenAI()

completion = client.chat.completions.create(
    model="fake-model",
    messages=[{"role": "user", "content": "Say hello."}],
)
print(completion.choices[0].message.content)
