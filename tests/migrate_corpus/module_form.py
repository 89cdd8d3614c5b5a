# expect: migrated=1 left=0
"""The module-level client: the openai module itself, no client object."""

import openai

reply = openai.chat.completions.create(
    model="fake-model",
    messages=[{"role": "user", "content": "Module-level hello."}],
)
print(reply.choices[0].message.content)
