# expect: migrated=1 left=0
"""Written for an older SDK, where parse() lived under client.beta."""

from openai import OpenAI
from pydantic import BaseModel


class Step(BaseModel):
    explanation: str
    output: str


class MathReasoning(BaseModel):
    steps: list[Step]
    final_answer: str


client = OpenAI()
result = client.beta.chat.completions.parse(
    model="fake-model",
    messages=[{"role": "user", "content": "Solve 8x + 7 = -23"}],
    response_format=MathReasoning,
)
answer = result.choices[0].message.parsed
print(len(answer.steps), answer.final_answer)
