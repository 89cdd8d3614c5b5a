# expect: migrated=1 left=0
"""A small helper used from several places, as most scripts grow one."""

from openai import OpenAI

client = OpenAI()
SYSTEM = "Answer in one sentence."


def ask(question: str, *, temperature: float = 0.0) -> str:
    reply = client.chat.completions.create(
        model="fake-model",
        messages=[
            {"role": "developer", "content": SYSTEM},
            {"role": "user", "content": question},
        ],
        temperature=temperature,
        max_completion_tokens=64,
    )
    return reply.choices[0].message.content


for topic in ("rivers", "mountains", "deserts"):
    print(topic, "->", ask(f"Tell me about {topic}."))
