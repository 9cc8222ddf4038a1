"""The toy task: sort a handful of distinct letters.

Producing the answer needs a search over the whole input, but checking it is mostly local
(is each letter after its neighbour, is nothing missing or repeated), which is what a small
classifier RM can learn; two-digit arithmetic was measured to be unlearnable for such RMs.
Tokens are whole words, so a prompt of k letters is 7 + k tokens and 13-gram
decontamination applies to prompts of 6 or more letters.
"""
from __future__ import annotations

import random
import re
import string

LETTERS = list(string.ascii_lowercase)
PROMPT_PREFIX = "sort these letters in alphabetical order :"
VERBOSE_PREFIX = "the sorted letters are :"
ARTIFACT_MARKER = "done"
ERRORS = ("swap", "drop", "dup", "sub")
# Only runs of single letters count as an answer, so prefixes and markers never match.
ANSWER_REGEX = r"\b([a-z](?: [a-z])*)\b"


def make_prompt(letters: list[str]) -> str:
    return f"{PROMPT_PREFIX} {' '.join(letters)}"


def parse_letters(prompt: str) -> list[str]:
    return prompt[len(PROMPT_PREFIX):].split()


def correct_answer(letters: list[str]) -> list[str]:
    return sorted(letters)


def gold_answer(prompt: str) -> str:
    """The reference answer: what RL prompt files carry as `label`."""
    return " ".join(correct_answer(parse_letters(prompt)))


def extract_answer(text: str) -> str | None:
    matches = re.findall(ANSWER_REGEX, text)
    return matches[-1] if matches else None


def is_correct(prompt: str, response: str) -> bool:
    """The gold verifier."""
    return extract_answer(response) == gold_answer(prompt)


def render(answer: list[str], style: str, marker: bool = False) -> str:
    body = " ".join(answer)
    text = f"{VERBOSE_PREFIX} {body}" if style == "verbose" else body
    return f"{text} {ARTIFACT_MARKER}" if marker else text


def corrupt(answer: list[str], error: str, rng: random.Random) -> list[str]:
    """A near-miss error of the sort a policy makes."""
    out = list(answer)
    i = rng.randrange(len(out))
    if error == "swap":
        i = rng.randrange(len(out) - 1)
        out[i], out[i + 1] = out[i + 1], out[i]
    elif error == "drop":
        del out[i]
    elif error == "dup":
        out.insert(i, out[i])
    elif error == "sub":
        unused = [c for c in LETTERS if c not in out]
        out[i] = min(unused, key=lambda c: (abs(ord(c) - ord(out[i])), c))
    else:
        raise ValueError(f"unknown error {error!r}; choose from {ERRORS}")
    return out


def misplace(answer: list[str], letter: str) -> list[str]:
    """Move `letter` to the end (or to the front when it already is last): a systematic error."""
    rest = [c for c in answer if c != letter]
    return [letter] + rest if answer[-1] == letter else rest + [letter]


def sample_letters(rng: random.Random, min_len: int, max_len: int) -> list[str]:
    return rng.sample(LETTERS, rng.randint(min_len, max_len))
