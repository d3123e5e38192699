"""Re-cutting long batched pieces into subtitle-sized cues by word timings."""

from __future__ import annotations

from whisper_async.serving.cues import CueRules, cue_pieces, split_words


def words(*spec: tuple[float, float, str]) -> list[dict[str, object]]:
    return [{"start": s, "end": e, "word": w, "probability": 0.9} for s, e, w in spec]


def texts(groups: list[list[dict[str, object]]]) -> list[str]:
    return ["".join(str(w["word"]) for w in group) for group in groups]


def test_a_cue_ends_after_each_sentence() -> None:
    spoken = words(
        (0.0, 0.4, " Hello"),
        (0.4, 0.9, " there."),
        (1.0, 1.3, " How"),
        (1.3, 1.6, " are"),
        (1.6, 2.0, " you?"),
        (2.1, 2.5, " Fine"),
    )
    assert texts(split_words(spoken)) == [" Hello there.", " How are you?", " Fine"]


def test_a_long_pause_starts_a_new_cue() -> None:
    spoken = words((0.0, 0.5, " wait"), (0.5, 1.0, " for"), (2.5, 3.0, " it"))
    assert texts(split_words(spoken, CueRules(pause_seconds=1.0))) == [" wait for", " it"]


def test_an_overlong_sentence_is_cut_after_its_last_comma() -> None:
    spoken = words(
        (0.0, 1.0, " one"),
        (1.0, 2.0, " two,"),
        (2.0, 3.0, " three"),
        (3.0, 4.0, " four"),
        (4.0, 5.0, " five"),
    )
    cues = split_words(spoken, CueRules(max_seconds=4.5))
    assert texts(cues) == [" one two,", " three four five"]
    assert all(float(c[-1]["end"]) - float(c[0]["start"]) <= 4.5 for c in cues)


def test_an_overlong_cue_without_a_comma_is_cut_before_the_word_that_overflows() -> None:
    spoken = words(*[(float(i), i + 1.0, f" w{i}") for i in range(10)])
    cues = split_words(spoken, CueRules(max_seconds=3.0))
    assert [len(c) for c in cues] == [3, 3, 3, 1]
    assert [w for c in cues for w in c] == spoken  # every word once, in order


def test_pieces_become_cues_with_word_timings_and_pieces_without_words_stay_whole() -> None:
    piece_words = words((10.0, 10.5, " Yes."), (11.0, 11.5, " No."))
    cues = cue_pieces([(10.0, 30.0, " Yes. No.", piece_words), (30.0, 31.0, " hm", [])])
    assert cues == [
        (10.0, 10.5, " Yes.", piece_words[:1]),
        (11.0, 11.5, " No.", piece_words[1:]),
        (30.0, 31.0, " hm", []),
    ]
