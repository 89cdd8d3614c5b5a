# expect: migrated=1 left=0
import asyncio
import json

from openai import AsyncOpenAI

client = AsyncOpenAI()
CALCULATOR = [
    {
        "type": "function",
        "function": {
            "name": "multiply",
            "parameters": {
                "type": "object",
                "properties": {"a": {"type": "number"}, "b": {"type": "number"}},
                "required": ["a", "b"],
            },
        },
    }
]


async def solve(problem: str) -> str:
    history = [{"role": "user", "content": problem}]
    for _ in range(5):
        reply = await client.chat.completions.create(
            model="fake-model", messages=history, tools=CALCULATOR, temperature=0
        )
        if not reply.choices[0].message.tool_calls:
            return reply.choices[0].message.content
        history.append(reply.choices[0].message)
        for call in reply.choices[0].message.tool_calls:
            args = json.loads(call.function.arguments)
            history.append(
                {"role": "tool", "tool_call_id": call.id, "content": str(args["a"] * args["b"])}
            )
    return "gave up"


print(asyncio.run(solve("What is 6 times 7?")))
