# expect: migrated=0 left=1
"""The completion leaves the function that made it: its reads are out of sight."""

from openai import OpenAI

client = OpenAI()


def complete(prompt: str):
    return client.chat.completions.create(
        model="fake-model", messages=[{"role": "user", "content": prompt}]
    )


result = complete("hello")
print(result.choices[0].message.content, result.choices[0].finish_reason)
