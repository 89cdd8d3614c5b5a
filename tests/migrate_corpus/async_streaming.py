# expect: migrated=1 left=0
import asyncio

from openai import AsyncOpenAI

client = AsyncOpenAI()


async def main() -> None:
    stream = await client.chat.completions.create(
        model="fake-model",
        messages=[{"role": "user", "content": "Stream this please."}],
        stream=True,
        stream_options={"include_usage": True},
    )
    async for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content:
            print(chunk.choices[0].delta.content, end="")
    print()


asyncio.run(main())
