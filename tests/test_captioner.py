"""The captioner (video encoder + causal decoder), its searches, and the translator."""

from __future__ import annotations

import pytest
import torch

from vidbook.clip_shape import ClipShape
from vidbook.data import SynthScenes
from vidbook.data.scene_text import caption_tokens
from vidbook.errors import BadValueError
from vidbook.models.captioner import (
    EOS,
    PAD,
    TOKENIZER,
    Captioner,
    CaptionerConfig,
    beam_search,
    caption_ids,
    greedy_search,
    words_of,
)
from vidbook.models.translator import Translator, TranslatorConfig, source_ids

pytestmark = pytest.mark.usefixtures("one_thread")
TINY = {"width": 4, "d_model": 16, "heads": 2, "layers": 1}


def _scenes(n: int = 4, frames: int = 16) -> tuple[torch.Tensor, list[list[str]], list[list[str]]]:
    scenes = SynthScenes("train", size=n, clip_shape=ClipShape(frames, 32, 32), seed=3)
    params = scenes.params(range(n))
    en = [caption_tokens(params.actors(i), "en") for i in range(n)]
    zh = [caption_tokens(params.actors(i), "zh") for i in range(n)]
    return scenes.batch(range(n), captions=False)["clip"], en, zh


def test_caption_ids_shift_by_one_and_pad() -> None:
    tokens_in, targets = caption_ids(
        [["a", "red", "square", "grows"], ["a", "blue", "cross"]], "en"
    )
    assert tokens_in.shape == targets.shape == (2, 5)
    assert TOKENIZER.words[tokens_in[0, 0]] == "<en>"
    assert torch.equal(
        tokens_in[:, 1:][targets[:, :-1] != PAD], targets[:, :-1][targets[:, :-1] != PAD]
    )
    assert targets[0, -1] == EOS and targets[1, -2] == EOS and targets[1, -1] == PAD
    assert words_of(targets) == [["a", "red", "square", "grows"], ["a", "blue", "cross"]]


@pytest.mark.parametrize(
    "captions, lang, length",
    [([["a", "red"]], "fr", None), (["a red square"], "en", None), ([], "en", None),
     ([["a", "red", "square"]], "en", 4), ([["a", "purple", "blob"]], "en", None)],
)  # fmt: skip
def test_caption_ids_bad_input(captions, lang, length) -> None:
    with pytest.raises(BadValueError):
        caption_ids(captions, lang, length)


def test_forward_shapes_and_several_captions_per_clip() -> None:
    torch.manual_seed(0)
    model = Captioner(CaptionerConfig(**TINY)).eval()
    clip, en, zh = _scenes(2)
    tin_en, _ = caption_ids(en, "en", 30)
    tin_zh, _ = caption_ids(zh, "zh", 30)
    assert model(clip, tin_en).shape == (2, 29, len(TOKENIZER))
    both = torch.stack([tin_en, tin_zh], dim=1).flatten(0, 1)  # rows: clip0 en, clip0 zh, ...
    logits = model(clip, both)
    assert logits.shape == (4, 29, len(TOKENIZER))
    torch.testing.assert_close(logits[2], model(clip, tin_en)[1], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(logits[1], model(clip, tin_zh)[0], atol=1e-5, rtol=1e-5)


def test_decoder_is_causal() -> None:
    torch.manual_seed(0)
    model = Captioner(CaptionerConfig(**TINY)).eval()
    clip, en, _ = _scenes(1)
    tokens, _ = caption_ids(en, "en")
    changed = tokens.clone()
    changed[0, -1] = TOKENIZER.ids["green"]
    a, b = model(clip, tokens), model(clip, changed)
    torch.testing.assert_close(a[:, :-1], b[:, :-1])
    assert not torch.allclose(a[:, -1], b[:, -1])


def test_single_frame_encoder_sees_the_middle_frame_only() -> None:
    torch.manual_seed(0)
    clip, en, _ = _scenes(2)
    tokens, _ = caption_ids(en, "en")
    other = clip.clone()
    other[:, :, : clip.shape[2] // 2] = torch.rand_like(other[:, :, : clip.shape[2] // 2])
    single = Captioner(CaptionerConfig(**TINY, single_frame=True)).eval()
    torch.testing.assert_close(single(clip, tokens), single(other, tokens))
    full = Captioner(CaptionerConfig(**TINY)).eval()
    assert not torch.allclose(full(clip, tokens), full(other, tokens))


def test_beam_of_width_one_is_greedy() -> None:
    torch.manual_seed(1)
    model = Captioner(CaptionerConfig(**TINY)).eval()
    clip, _, _ = _scenes(3)
    with torch.no_grad():
        memory = model.encoder(clip)
        first = torch.full((3,), TOKENIZER.ids["<en>"])
        for bias in (0.0, 3.0):  # 3: <eos> likely, so rows end at different steps
            model.decoder.embed.weight[EOS] += bias
            greedy = greedy_search(model.decoder, memory, first, 12)
            beam = beam_search(model.decoder, memory, first, 1, 12)
            assert torch.equal(greedy, beam)
    assert model.greedy_decode(clip, "zh", 12) == model.beam_decode(clip, "zh", 1, 12)


def test_beam_finds_a_likelier_caption_than_greedy_on_a_tree() -> None:
    """A decoder whose first step prefers "a" (0.6) but whose best caption starts with "an":
    greedy takes "a", then is unsure; beam of width 2 keeps "an" and finds the better whole."""

    class Tree(torch.nn.Module):
        def forward(self, tokens, memory, memory_padding=None):
            v = len(TOKENIZER)
            logp = torch.full((len(tokens), tokens.shape[1], v), -30.0)
            for row, seq in enumerate(tokens.tolist()):
                last = seq[-1]
                nxt = {TOKENIZER.ids["<en>"]: {"a": 0.6, "an": 0.4},
                       TOKENIZER.ids["a"]: {"red": 0.5, "blue": 0.5},
                       TOKENIZER.ids["an"]: {"orange": 1.0}}.get(last, {"<eos>": 1.0})  # fmt: skip
                for word, p in nxt.items():
                    logp[row, -1, TOKENIZER.ids[word]] = torch.tensor(p).log()
            return logp

    first = torch.full((1,), TOKENIZER.ids["<en>"])
    memory = torch.zeros(1, 1, 4)
    assert words_of(greedy_search(Tree(), memory, first, 6))[0][0] == "a"
    assert words_of(beam_search(Tree(), memory, first, 2, 6)) == [["an", "orange"]]


def test_tiny_captioner_overfits_three_clips(one_thread) -> None:
    torch.manual_seed(0)
    clip, en, zh = _scenes(3, frames=8)
    model = Captioner(CaptionerConfig(width=4, d_model=32, heads=2, layers=1))
    tin_en, tgt_en = caption_ids(en, "en", 30)
    tin_zh, tgt_zh = caption_ids(zh, "zh", 30)
    tokens_in = torch.stack([tin_en, tin_zh], 1).flatten(0, 1)
    targets = torch.stack([tgt_en, tgt_zh], 1).flatten(0, 1)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2)
    for _ in range(80):
        logits = model(clip, tokens_in)
        loss = torch.nn.functional.cross_entropy(logits.flatten(0, 1), targets.flatten(),
                                                 ignore_index=PAD)  # fmt: skip
        opt.zero_grad()
        loss.backward()
        opt.step()
    # Decoded in training mode: batch norm uses the statistics of these 3 clips, as in the fit.
    assert loss.item() < 0.05
    assert model.greedy_decode(clip, "en") == en
    assert model.beam_decode(clip, "zh", k=3) == zh


@pytest.mark.parametrize(
    "config",
    [{"d_model": 30, "heads": 4}, {"space_stride": 2}, {"time_stride": 3}, {"layers": 0},
     {"single_frame": "yes"}, {"width": 2}],
)  # fmt: skip
def test_bad_config(config) -> None:
    with pytest.raises(BadValueError):
        CaptionerConfig(**config)


def test_bad_inputs() -> None:
    model = Captioner(CaptionerConfig(**TINY))
    clip, en, _ = _scenes(2)
    tokens, _ = caption_ids(en, "en")
    with pytest.raises(BadValueError, match="time axis"):
        model(clip.transpose(1, 2), tokens)
    with pytest.raises(BadValueError, match="B·k"):
        model(clip, tokens[:1].repeat(3, 1))
    with pytest.raises(BadValueError, match="lang"):
        model.greedy_decode(clip, "de")
    with pytest.raises(BadValueError, match="k"):
        model.beam_decode(clip, "en", k=0)
    with pytest.raises(BadValueError, match="L <="):
        model(clip, torch.ones(2, 50, dtype=torch.long))


def test_translator_shapes_padding_and_errors() -> None:
    torch.manual_seed(0)
    model = Translator(TranslatorConfig(d_model=16, heads=2, layers=1)).eval()
    _, en, zh = _scenes(3)
    source = source_ids(en)
    assert source.shape == (3, max(len(c) for c in en))
    assert (source == PAD).sum() == sum(source.shape[1] - len(c) for c in en)
    tokens_in, _ = caption_ids(zh, "zh")
    assert model(source, tokens_in).shape == (*tokens_in.shape, len(TOKENIZER))
    # Padding the source further changes nothing: padded positions are masked.
    wider = torch.cat([source, torch.zeros(3, 4, dtype=torch.long)], dim=1)
    torch.testing.assert_close(model(source, tokens_in), model(wider, tokens_in))
    assert len(model.greedy_decode(en, max_len=6)) == 3
    with pytest.raises(BadValueError):
        source_ids(["a red square"])
    with pytest.raises(BadValueError):
        model(source.float(), tokens_in)
