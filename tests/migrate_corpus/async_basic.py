# expect: migrated=1 left=0
import asyncio

from openai import AsyncOpenAI


async def main() -> None:
    client = AsyncOpenAI()
    questions = ["One?", "Two?", "Three?"]

    async def one(question: str) -> str:
        result = await client.chat.completions.create(
            model="fake-model", messages=[{"role": "user", "content": question}]
        )
        return result.choices[0].message.content

    answers = await asyncio.gather(*(one(q) for q in questions))
    for answer in answers:
        print(answer)


asyncio.run(main())
