# expect: migrated=1 left=0
import json

from openai import OpenAI

client = OpenAI()
tools = [
    {
        "type": "function",
        "function": {
            "name": "lookup_order",
            "description": "Find an order.",
            "parameters": {
                "type": "object",
                "properties": {"order_id": {"type": "string"}, "verbose": {"type": "boolean"}},
                "required": ["order_id"],
            },
        },
    }
]
response = client.chat.completions.create(
    model="fake-model",
    messages=[{"role": "user", "content": "Where is order 42?"}],
    tools=tools,
    tool_choice={"type": "function", "function": {"name": "lookup_order"}},
)
calls = response.choices[0].message.tool_calls
print(len(calls))
for call in calls:
    print(call.function.name, json.loads(call.function.arguments))
