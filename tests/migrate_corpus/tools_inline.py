# expect: migrated=1 left=0
import json

from openai import OpenAI

client = OpenAI()

response = client.chat.completions.create(
    model="fake-model",
    messages=[{"role": "user", "content": "Book a table for two."}],
    tools=[
        {
            "type": "function",
            "function": {
                "name": "book_table",
                "parameters": {
                    "type": "object",
                    "properties": {"people": {"type": "integer"}, "time": {"type": "string"}},
                    "required": ["people", "time"],
                    "additionalProperties": False,
                },
                "strict": True,
            },
        }
    ],
    parallel_tool_calls=False,
)
for call in response.choices[0].message.tool_calls:
    print(call.function.name, json.loads(call.function.arguments))
