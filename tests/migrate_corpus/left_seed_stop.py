# expect: migrated=0 left=2
"""Parameters Responses does not have: the calls stay, and still work on responsd."""

from openai import OpenAI

client = OpenAI()
seeded = client.chat.completions.create(
    model="fake-model",
    messages=[{"role": "user", "content": "Pick a number."}],
    seed=7,
)
print(seeded.choices[0].message.content)
stopped = client.chat.completions.create(
    model="fake-model",
    messages=[{"role": "user", "content": "List things."}],
    stop=["\n\n"],
)
print(stopped.choices[0].finish_reason)
