# expect: migrated=1 left=0
"""The classic function-calling loop: call, run the tools, send results, repeat."""

import json

from openai import OpenAI

client = OpenAI()

TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Current weather for a city.",
            "parameters": {
                "type": "object",
                "properties": {"city": {"type": "string"}},
                "required": ["city"],
            },
        },
    }
]


def get_weather(city: str) -> dict:
    return {"city": city, "temperature_c": 21}


def run(question: str) -> str:
    messages = [
        {"role": "system", "content": "Use tools when useful."},
        {"role": "user", "content": question},
    ]
    while True:
        response = client.chat.completions.create(
            model="fake-model", messages=messages, tools=TOOLS
        )
        message = response.choices[0].message
        if not message.tool_calls:
            return message.content
        messages.append(message)
        for tool_call in message.tool_calls:
            arguments = json.loads(tool_call.function.arguments)
            print("calling", tool_call.function.name, arguments)
            result = get_weather(**arguments)
            messages.append(
                {"role": "tool", "tool_call_id": tool_call.id, "content": json.dumps(result)}
            )


print(run("What is the weather in Paris?"))
