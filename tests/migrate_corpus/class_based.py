# expect: migrated=2 left=0
from openai import OpenAI


class Assistant:
    def __init__(self, persona: str) -> None:
        self.client = OpenAI()
        self.persona = persona

    def answer(self, question: str) -> str:
        response = self.client.chat.completions.create(
            model="fake-model",
            messages=[
                {"role": "system", "content": self.persona},
                {"role": "user", "content": question},
            ],
        )
        return response.choices[0].message.content

    def summarize(self, text: str) -> str:
        response = self.client.chat.completions.create(
            model="fake-model",
            messages=[{"role": "user", "content": f"Summarize: {text}"}],
            max_tokens=50,
        )
        return response.choices[0].message.content


bot = Assistant("You are a librarian.")
print(bot.answer("Recommend a book."))
print(bot.summarize("A long text about libraries."))
