# expect: migrated=1 left=1
from openai import OpenAI

client = OpenAI()


def build_messages(question: str) -> list[dict]:
    return [{"role": "user", "content": question}]


def migrated(question: str) -> str:
    out = client.chat.completions.create(
        model="fake-model", messages=[{"role": "user", "content": question}]
    )
    return out.choices[0].message.content


def left_alone(question: str) -> str:
    out = client.chat.completions.create(model="fake-model", messages=build_messages(question))
    return out.choices[0].message.content


print(migrated("first"))
print(left_alone("second"))
