# expect: migrated=1 left=0
from openai import OpenAI

client = OpenAI()


def chat(turns: list[str]) -> str:
    completion = client.chat.completions.create(
        model="fake-model",
        messages=[
            {"role": "system", "content": "Remember what the user says."},
            {"role": "user", "content": turns[0]},
            {"role": "assistant", "content": "Noted."},
            {"role": "user", "content": [{"type": "text", "text": turns[1]}]},
        ],
    )
    return completion.choices[0].message.content


print(chat(["My name is Ada.", "What is my name?"]))
