# expect: migrated=1 left=0
import json

from openai import OpenAI

client = OpenAI()

schema = {
    "type": "object",
    "properties": {"title": {"type": "string"}, "year": {"type": "integer"}},
    "required": ["title", "year"],
    "additionalProperties": False,
}
response = client.chat.completions.create(
    model="fake-model",
    messages=[{"role": "user", "content": "Name a film."}],
    response_format={
        "type": "json_schema",
        "json_schema": {"name": "film", "schema": schema, "strict": True},
    },
)
film = json.loads(response.choices[0].message.content)
print(film["title"], film["year"])
