# expect: migrated=1 left=0
from openai import OpenAI

client = OpenAI()
PIXEL = (
    "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQ"
    "DwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
)
response = client.chat.completions.create(
    model="fake-model",
    messages=[
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "What is in this image?"},
                {"type": "image_url", "image_url": {"url": PIXEL, "detail": "low"}},
            ],
        }
    ],
)
print(response.choices[0].message.content)
