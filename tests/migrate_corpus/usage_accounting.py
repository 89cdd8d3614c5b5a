# expect: migrated=1 left=0
from openai import OpenAI

client = OpenAI()
total_in = total_out = 0
for question in ["a?", "bb?", "ccc?"]:
    completion = client.chat.completions.create(
        model="fake-model", messages=[{"role": "user", "content": question}]
    )
    total_in += completion.usage.prompt_tokens
    total_out += completion.usage.completion_tokens
    print(completion.model, completion.choices[0].message.content)
print(total_in, total_out)
