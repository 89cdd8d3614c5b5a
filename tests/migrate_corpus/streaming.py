# expect: migrated=1 left=0
from openai import OpenAI

client = OpenAI()

stream = client.chat.completions.create(
    model="fake-model",
    messages=[{"role": "user", "content": "Tell me a long story."}],
    stream=True,
)
pieces = []
for chunk in stream:
    content = chunk.choices[0].delta.content
    if content:
        pieces.append(content)
        print(content, end="", flush=True)
print()
print(len("".join(pieces)))
