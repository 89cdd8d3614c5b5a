# expect: migrated=1 left=0
import json

from openai import OpenAI

client = OpenAI()
data = client.chat.completions.create(
    model="fake-model",
    messages=[
        {"role": "system", "content": "Reply with JSON."},
        {"role": "user", "content": "Give me an object."},
    ],
    response_format={"type": "json_object"},
)
print(sorted(json.loads(data.choices[0].message.content)))
