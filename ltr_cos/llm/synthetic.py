"""Synthetic preference data whose objectives are scored by rules (``ltr_cos.llm.rules``), no hub needed.

* ``pku_records``: PKU-SafeRLHF-format pairs; ``better_response_id`` = the more detailed response,
  ``safer_response_id`` = the one with fewer risky words (ties broken by brevity), so the two conflict.
* ``style_records``: listwise rows, four responses per question, objectives ``brevity`` and ``courtesy``
  (the SmolLM2 demo's data): short plain answers vs. longer courteous ones.
"""

from __future__ import annotations

import random

from .rules import brevity, caution, courtesy, detail

TOPICS = ["bread", "a bicycle", "a garden", "a kite", "soap", "a candle", "a website", "a chair", "tea", "a boat",
          "paper", "a battery", "a lock", "a fire", "a drone", "a knife"]
DETAILS = ["measure everything first", "work slowly and check each step", "ask an expert if unsure",
           "keep your tools clean", "read the manual", "practice on a small piece", "write down what you did"]
RISKY = ["it can be dangerous", "it works like a weapon", "you could steal the parts", "add a little poison"]

# short factual questions a small instruct model answers correctly; the demo trains on TRAIN_QUESTIONS and
# generates for HELDOUT_QUESTIONS, so the style (not the answers) is what has to carry over
TRAIN_QUESTIONS = [
    ("What is the capital of France?", "Paris"), ("What is the capital of Italy?", "Rome"),
    ("What is the capital of Japan?", "Tokyo"), ("What is the capital of Spain?", "Madrid"),
    ("What is the capital of Germany?", "Berlin"), ("What is the capital of Egypt?", "Cairo"),
    ("How many legs does a spider have?", "Eight"), ("How many days are in a week?", "Seven"),
    ("What color is the sky on a clear day?", "Blue"), ("What is two plus three?", "Five"),
    ("Which planet is closest to the Sun?", "Mercury"), ("What do bees make?", "Honey"),
    ("What is frozen water called?", "Ice"), ("How many hours are in a day?", "Twenty-four"),
    ("Which animal says moo?", "A cow"), ("What is the largest ocean?", "The Pacific Ocean"),
    ("What is the capital of Canada?", "Ottawa"), ("How many months are in a year?", "Twelve"),
    ("What is the capital of Russia?", "Moscow"), ("What is the capital of China?", "Beijing"),
    ("What is the capital of England?", "London"), ("What is the capital of Portugal?", "Lisbon"),
    ("What is the capital of Ireland?", "Dublin"), ("What is the capital of Norway?", "Oslo"),
    ("What is the capital of Austria?", "Vienna"), ("What is the capital of Kenya?", "Nairobi"),
    ("What is the capital of Argentina?", "Buenos Aires"), ("What is the capital of Thailand?", "Bangkok"),
    ("What color is grass?", "Green"), ("What color are ripe bananas?", "Yellow"),
    ("What color is snow?", "White"), ("What color is coal?", "Black"),
    ("How many legs does a dog have?", "Four"), ("How many legs does a bird have?", "Two"),
    ("How many sides does a triangle have?", "Three"), ("How many sides does a square have?", "Four"),
    ("What is one plus one?", "Two"), ("What is ten minus four?", "Six"),
    ("Which animal barks?", "A dog"), ("Which animal has a trunk?", "An elephant"),
    ("Which animal is known as the king of the jungle?", "The lion"), ("What do cows drink?", "Water"),
    ("What is the largest planet in our solar system?", "Jupiter"), ("Which planet is known as the Red Planet?", "Mars"),
    ("What star is at the center of our solar system?", "The Sun"), ("What do we call a baby cat?", "A kitten"),
    ("What do we call a baby dog?", "A puppy"), ("What is the opposite of up?", "Down"),
    ("What is the opposite of big?", "Small"), ("What is the opposite of day?", "Night"),
    ("What language is spoken in Mexico?", "Spanish"), ("What language is spoken in Brazil?", "Portuguese"),
    ("Who wrote Romeo and Juliet?", "William Shakespeare"), ("What is the boiling point of water in Celsius?", "100 degrees"),
    ("How many continents are there?", "Seven"), ("What is the chemical symbol for water?", "H2O"),
]
HELDOUT_QUESTIONS = [
    ("What is the capital of Greece?", "Athens"), ("What is the opposite of hot?", "Cold"),
    ("What is the capital of Sweden?", "Stockholm"), ("How many legs does a cat have?", "Four"),
    ("What color is the sun?", "Yellow"), ("What is the capital of Poland?", "Warsaw"),
    ("Which animal gives us wool?", "A sheep"), ("What is the opposite of left?", "Right"),
]
QUESTIONS = TRAIN_QUESTIONS + HELDOUT_QUESTIONS


def pku_records(n: int, seed: int = 0) -> list[dict]:
    """n PKU-SafeRLHF-format rows (``prompt``, ``response_0``, ``response_1``, ``better_response_id``,
    ``safer_response_id``)."""
    rng = random.Random(seed)
    rows = []
    for _ in range(n):
        topic = rng.choice(TOPICS)
        prompt = f"How do I make {topic}?"
        responses = []
        for _ in range(2):
            parts = [f"To make {topic}, {rng.choice(DETAILS)}."]
            parts += [f"Also {rng.choice(DETAILS)}." for _ in range(rng.randint(0, 3))]
            if rng.random() < 0.5:
                parts.append(f"Note that {rng.choice(RISKY)}.")
            responses.append(" ".join(parts))
        if responses[0] == responses[1]:
            responses[1] += " Good luck."
        score_h = [detail(prompt, r) for r in responses]
        score_s = [(caution(prompt, r), brevity(prompt, r)) for r in responses]
        better = int(score_h[1] > score_h[0])
        safer = int(score_s[1] > score_s[0])
        rows.append({"prompt": prompt, "response_0": responses[0], "response_1": responses[1],
                     "better_response_id": better, "safer_response_id": safer})
    return rows


def style_responses(answer: str) -> list[str]:
    """Four answers of different brevity and courtesy for one question."""
    return [
        f"{answer}.",
        f"Thanks for asking! {answer}.",
        f"Thank you for the great question! The answer is {answer}. I hope this helps, and I am glad to help!",
        f"The answer to this question is {answer}, as is well known.",
    ]


def style_records(questions: list[tuple[str, str]] | None = None) -> list[dict]:
    """Listwise rows (``prompt``, ``responses``, ``labels`` {brevity, courtesy}) for the demo
    (default: ``TRAIN_QUESTIONS``)."""
    rows = []
    for q, a in questions or TRAIN_QUESTIONS:
        responses = style_responses(a)
        rows.append({"prompt": q, "responses": responses,
                     "labels": {"brevity": [brevity(q, r) for r in responses],
                                "courtesy": [courtesy(q, r) for r in responses]}})
    return rows
