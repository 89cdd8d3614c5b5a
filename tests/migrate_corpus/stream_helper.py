# expect: migrated=1 left=0
from openai import OpenAI

client = OpenAI()

with client.chat.completions.stream(
    model="fake-model",
    messages=[{"role": "user", "content": "Describe the sea."}],
) as stream:
    for event in stream:
        if event.type == "content.delta":
            print(event.delta, end="")
    print()
    final = stream.get_final_completion()

print(final.choices[0].message.content)
