# expect: migrated=1 left=0
from openai import OpenAI

client = OpenAI()
response = client.chat.completions.create(
    model="fake-model",
    reasoning_effort="low",
    messages=[{"role": "user", "content": "Is 97 prime?"}],
    user="user-1234",
    metadata={"app": "corpus"},
)
print(response.choices[0].message.content)
