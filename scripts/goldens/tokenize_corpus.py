#!/usr/bin/env python3
"""Writes tests/data/tokenize/corpus.jsonl: the shared input corpus of the tokenizer goldens
(tokenize_bpe.py, tokenize_spm.py, tokenize_wordpiece.py read it back through corpus_text.py).

No peer runs here; only the Python standard library (json, random with fixed seeds, hashlib).
Real text is never copied: XQuAD / SQuAD contexts, Paul Graham essays, LoCoMo turns and L-Eval
inputs are referenced by locator ({"file", "pointer", "line", "span"}) into $ENGRAM_SHARED_DATA
(default <repo>/../shared/data) with the byte length and sha256 of the referenced bytes. Synthetic
text written for this file (code, numbers, whitespace, CJK, emoji, mixed, invalid UTF-8, special
tokens) is inline ("text", or "hex" for raw bytes).

Usage: python3 scripts/goldens/tokenize_corpus.py   (any python3 >= 3.8; deterministic)
"""
import hashlib
import json
import random
import sys
import pathlib

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import corpus_text as ct  # noqa: E402

MAX_SPAN = 300
XQUAD_LANGS = ["ar", "de", "en", "es", "hi", "ru", "th", "zh"]
WS = b" \t\n\r\x0b\x0c"

# ----------------------------------------------------------------------------------------------
# span selection (bytes; always on UTF-8 character boundaries)


def is_cont(c: int) -> bool:
    return (c & 0xC0) == 0x80


def back_to_char(b: bytes, i: int) -> int:
    while 0 < i < len(b) and is_cont(b[i]):
        i -= 1
    return i


def fwd_to_char(b: bytes, i: int) -> int:
    while 0 < i < len(b) and is_cont(b[i]):
        i += 1
    return i


def pick_length(rng: random.Random) -> int:
    r = rng.random()
    if r < 0.05:
        return 0  # one character
    if r < 0.20:
        return rng.randint(2, 40)
    if r < 0.50:
        return rng.randint(40, 150)
    return rng.randint(150, MAX_SPAN)


def word_start(b: bytes, p: int, limit=80):
    for i in range(p, min(len(b), p + limit)):
        if (i == 0 or b[i - 1] in WS) and b[i] not in WS:
            return i
    return None


def word_end(b: bytes, e: int, lo: int, limit=80):
    for j in range(min(e, len(b)), max(lo, e - limit), -1):
        if b[j - 1] not in WS and (j == len(b) or b[j] in WS):
            return j
    return None


def choose_span(b: bytes, rng: random.Random, allow_whole=True):
    """Returns (start, length) of a valid-UTF-8 span of b, at most MAX_SPAN bytes (unless the
    whole string is chosen, which happens only when it is short)."""
    n = len(b)
    if allow_whole and n <= MAX_SPAN and rng.random() < 0.7:
        return None  # whole string
    L = pick_length(rng)
    if L == 0:  # a single character
        p = back_to_char(b, rng.randrange(n))
        q = fwd_to_char(b, p + 1) if p + 1 < n else n
        return p, q - p
    L = min(L, n)
    mode = rng.random()
    from_zero = rng.random() < 0.12
    p = 0 if from_zero else rng.randrange(0, max(1, n - L + 1))
    if mode < 0.60:  # whole words
        s = p if from_zero else word_start(b, p)
        if s is None:
            s = back_to_char(b, p)
        e = word_end(b, s + L, s + 1)
        if e is None:
            e = back_to_char(b, min(n, s + L))
    elif mode < 0.75:  # leading whitespace
        s = p
        while s < n and b[s] not in WS:
            s += 1
        if s >= n:
            s = back_to_char(b, p)
        e = word_end(b, s + L, s + 1) or back_to_char(b, min(n, s + L))
    elif mode < 0.90:  # trailing whitespace (one whitespace run)
        s = word_start(b, p)
        if s is None:
            s = back_to_char(b, p)
        e = back_to_char(b, min(n, s + L))
        j = e
        while j > s and b[j - 1] not in WS:
            j -= 1
        if j > s:
            e = j
            while e < n and b[e] in WS and e - s < MAX_SPAN:
                e += 1
    else:  # raw character boundaries (may cut words / combining sequences)
        s = back_to_char(b, p)
        e = back_to_char(b, min(n, s + L))
    if e <= s:
        s = back_to_char(b, p)
        e = fwd_to_char(b, s + 1) if s + 1 < n else n
    e = min(e, s + MAX_SPAN + 16)
    e = back_to_char(b, e) if e < n else e
    b[s:e].decode("utf-8")  # asserts character boundaries
    return s, e - s


# ----------------------------------------------------------------------------------------------
# real data (locators only)


class Builder:
    def __init__(self):
        self.res = ct.Resolver()
        self.cases = []

    def add(self, kind, **payload):
        case = {"id": len(self.cases), "kind": kind}
        case.update(payload)
        b = self.res.case_bytes(case)
        if "text" in payload:
            assert not any(0xD800 <= ord(c) <= 0xDFFF for c in payload["text"])
        case["bytes"] = len(b)
        case["sha256"] = hashlib.sha256(b).hexdigest()
        if len(b) == 0:
            raise AssertionError(f"empty case {case}")
        self.cases.append(case)

    def add_ref(self, kind, ref, rng, allow_whole=True):
        whole = self.res.ref_bytes(ref)
        if not whole:
            return False
        span = choose_span(whole, rng, allow_whole)
        if span is not None:
            ref = dict(ref, span=list(span))
        self.add(kind, ref=ref)
        return True


def add_xquad(bld: Builder):
    for lang in XQUAD_LANGS:
        rng = random.Random(f"xquad.{lang}")
        rel = f"xquad/xquad.{lang}.shared.json"
        doc = bld.res.doc(rel)
        for a, art in enumerate(doc["data"]):
            for p, _ in enumerate(art["paragraphs"]):
                bld.add_ref(f"xquad.{lang}",
                            {"file": rel, "pointer": ct.pointer_of("data", a, "paragraphs", p, "context")}, rng)


def add_squad(bld: Builder, count=200):
    rng = random.Random("squad")
    rel = "squad/dev-v1.1.shared.json"
    doc = bld.res.doc(rel)
    ptrs = [ct.pointer_of("data", a, "paragraphs", p, "context")
            for a, art in enumerate(doc["data"]) for p, _ in enumerate(art["paragraphs"])]
    for ptr in sorted(rng.sample(range(len(ptrs)), count)):
        bld.add_ref("squad", {"file": rel, "pointer": ptrs[ptr]}, rng)


def add_essays(bld: Builder, per_file=5):
    rng = random.Random("essay")
    d = bld.res.shared / "haystack" / "pg_essays"
    for f in sorted(p.name for p in d.iterdir() if p.suffix == ".txt"):
        for _ in range(per_file):
            bld.add_ref("essay", {"file": f"haystack/pg_essays/{f}"}, rng, allow_whole=False)


def add_locomo(bld: Builder, count=250):
    rng = random.Random("locomo")
    rel = "locomo/locomo.shared.json"
    doc = bld.res.doc(rel)
    ptrs = []
    for i, conv in enumerate(doc):
        sessions = sorted((k for k in conv if k.startswith("session_") and k[8:].isdigit()),
                          key=lambda k: int(k[8:]))
        for k in sessions:
            for t, turn in enumerate(conv[k]):
                if turn.get("text"):
                    ptrs.append(ct.pointer_of(i, k, t, "text"))
    for j in sorted(rng.sample(range(len(ptrs)), count)):
        # turns are short: mostly whole turns, sometimes a span
        bld.add_ref("locomo", {"file": rel, "pointer": ptrs[j]}, rng)


def add_leval(bld: Builder, per_doc=5):
    rng = random.Random("leval")
    for name in ["coursera", "natural_question", "quality"]:
        rel = f"leval/{name}.shared.jsonl"
        nlines = len([ln for ln in bld.res.raw(rel).split(b"\n") if ln.strip()])
        for line in range(nlines):
            for _ in range(per_doc):
                bld.add_ref("leval", {"file": rel, "line": line, "pointer": "/input"}, rng, allow_whole=False)


# ----------------------------------------------------------------------------------------------
# synthetic text (written for this corpus)

CODE = [
    "#include <cstdio>\n\nint main(int argc, char** argv) {\n    std::printf(\"hello, %s\\n\", argv[0]);\n    return 0;\n}\n",
    "template <typename T>\nT clamp(T v, T lo, T hi) { return v < lo ? lo : (hi < v ? hi : v); }\n",
    "for (size_t i = 0; i < n; ++i) {\n\tsum += a[i] * b[i];\n}\n",
    "std::vector<std::pair<int, std::string>> v{{1, \"one\"}, {2, \"two\"}};",
    "auto it = std::find_if(xs.begin(), xs.end(), [&](const auto& x) { return x.id == id; });",
    "namespace engram::inference {\nclass Tokenizer final {\n public:\n  explicit Tokenizer(const Vocab& v);\n  ~Tokenizer();\n};\n}  // namespace engram::inference\n",
    "#define CHECK(x) do { if (!(x)) { fprintf(stderr, \"%s:%d: %s\\n\", __FILE__, __LINE__, #x); abort(); } } while (0)",
    "uint32_t h = 2166136261u;\nfor (uint8_t c : s) { h ^= c; h *= 16777619u; }",
    "if (a <= b && b >= c || !d) x <<= 2; else y >>= 3; z = (p != q) ? p->next : q->prev;",
    "const float* __restrict__ src = reinterpret_cast<const float*>(ptr + 0x40);",
    "def fib(n):\n    a, b = 0, 1\n    for _ in range(n):\n        a, b = b, a + b\n    return a\n",
    "class Node:\n    def __init__(self, key, left=None, right=None):\n        self.key = key\n        self.left = left\n        self.right = right\n",
    "import numpy as np\n\nx = np.arange(12, dtype=np.float32).reshape(3, 4)\nprint(x.T @ x)\n",
    "def f(x):\n\tif x:\n\t\treturn [i ** 2 for i in range(x) if i % 2 == 0]\n\treturn None\n",
    "with open(path, \"rb\") as fh:\n    data = fh.read()\nassert len(data) > 0, f\"empty file: {path!r}\"\n",
    "async def fetch(session, url):\n    async with session.get(url) as resp:\n        return await resp.json()\n",
    "lambda *args, **kwargs: (args, kwargs)",
    "@dataclass(frozen=True)\nclass Point:\n    x: float = 0.0\n    y: float = 0.0\n",
    "    # indented comment with trailing spaces   \n        pass\n",
    "try:\n    1 / 0\nexcept ZeroDivisionError as e:\n    print(type(e).__name__, e)\nfinally:\n    pass",
    "fn main() {\n    let v: Vec<u64> = (1..=10).map(|x| x * x).collect();\n    println!(\"{:?}\", v);\n}\n",
    "func add(a int, b int) int {\n\treturn a + b\n}\n",
    "const sum = (xs) => xs.reduce((acc, x) => acc + x, 0);\nconsole.log(`sum = ${sum([1, 2, 3])}`);",
    "SELECT id, name, COUNT(*) AS n FROM users u JOIN orders o ON o.user_id = u.id WHERE u.age >= 18 GROUP BY id, name ORDER BY n DESC LIMIT 10;",
    "#!/usr/bin/env bash\nset -euo pipefail\nfor f in *.txt; do\n  wc -l \"$f\"\ndone\n",
    "{\"name\": \"engram\", \"version\": \"0.1.0\", \"tags\": [\"llm\", \"c++\"], \"nested\": {\"a\": null, \"b\": true}}",
    "<html>\n  <body>\n    <p class=\"x\">Hello &amp; welcome</p>\n  </body>\n</html>",
    "key: value\nlist:\n  - one\n  - two\nnested:\n  deep: {a: 1, b: [2, 3]}\n",
    "x=1;y=2;z=x+y;print(z)",
    "    \t  mixed\t indentation\n\t    here\n",
    "a[i][j] += b[i][k]*c[k][j]; // O(n^3)",
    "/* block\n * comment\n */\nint x = 0x7fffffff; long y = -9223372036854775807LL - 1; double z = 1.5e-10;",
    "std::cout << \"tab\\there\" << '\\n' << R\"(raw \\n string)\" << std::endl;",
    "if __name__ == \"__main__\":\n    main()\n",
    "matrix = [[1, 2, 3],\n          [4, 5, 6],\n          [7, 8, 9]]",
    "git diff --stat HEAD~3..HEAD -- src/*.cc | tail -n 1",
    "$ ./configure --prefix=/usr/local && make -j8 && sudo make install",
    "printf '%s\\n' \"${arr[@]}\" | sort -u | xargs -I{} echo {}",
    "\\begin{equation}\n  E = mc^2 \\quad \\forall x \\in \\mathbb{R}\n\\end{equation}",
    "<?php echo htmlspecialchars($_GET['q'] ?? '', ENT_QUOTES); ?>",
]

NUMBER_FIXED = [
    "0", "7", "42", "123", "1234", "12345", "123456", "1234567", "1,234,567", "1.234.567,89",
    "3.14159265358979323846", "-0.5", "+17", "1e10", "6.022e23", "1.0E-9", "0x1F", "0b1011", "0o755",
    "2024-01-15", "15/01/2024", "01.15.2024", "12:34:56", "23:59:59.999", "2024-01-15T08:30:00Z",
    "$1,000,000.00", "€ 12,50", "¥10000", "£3.99", "50%", "99.9%", "1/2", "3/4 cup", "10^6", "2^32-1",
    "4294967295", "18446744073709551615", "3.", ".5", "1..10", "v1.2.3", "192.168.0.1", "::1",
    "+1 (555) 123-4567", "ISBN 978-3-16-148410-0", "No. 5", "#1", "1st 2nd 3rd 4th 21st 102nd",
    "Ⅻ", "٣٤٥", "१२३४", "一二三", "１２３４５", "00000000", "000123", "9999999999999999999999999999",
    "3,141,592,653,589,793,238", "pi ≈ 3.1416", "x = 10 000 000", "1 000 000", "-273.15 °C",
]

CJK = [
    "我们今天去公园散步，天气非常好。",
    "人工智能正在改变世界。",
    "中华人民共和国成立于1949年10月1日。",
    "他说：“你好！”然后离开了。",
    "繁體中文與简体中文",
    "一、二、三；甲乙丙丁……",
    "東京は日本の首都です。",
    "私はコーヒーが好きです。でも、紅茶も飲みます。",
    "カタカナとひらがなと漢字",
    "ｶﾀｶﾅ ﾊﾝｶｸ",
    "ラーメン、スーパー、コンピューター",
    "「こんにちは」と彼は言った。",
    "令和6年1月15日（月）",
    "한국어는 재미있습니다.",
    "안녕하세요, 세계!",
    "서울특별시 종로구",
    "\u1112\u1161\u11ab\u1100\u1173\u11af",  # decomposed Hangul (jamo)
    "ＡＢＣ　ａｂｃ　１２３！？",
    "𠀀𠀁𪚥𩸽",  # CJK extension B (4-byte UTF-8)
    "漢字かなまじり文とEnglish words混在",
    "价格：￥199.00（含税）",
    "《红楼梦》是中国古典小说。",
    "第1章　はじめに",
    "中文 空格 分隔",
    "日本語\n改行\nテスト",
    "　全角スペースで始まる",
    "말 Korean 日本 中文 mixed",
    "〇〇〇", "々", "ー", "·", "、", "。",
]

EMOJI = [
    "😀", "😀😃😄😁", "👍", "👍🏻👍🏼👍🏽👍🏾👍🏿", "👨‍👩‍👧‍👦", "👩‍💻", "🏳️‍🌈", "🧑🏽‍🚀",
    "🇺🇸", "🇯🇵🇩🇪🇫🇷", "🏴󠁧󠁢󠁥󠁮󠁧󠁿", "❤️", "❤", "✔️ done", "1️⃣2️⃣3️⃣", "#️⃣", "©️ 2024", "™",
    "I love pizza 🍕 and sushi 🍣!", "Great job!!! 🎉🎉🎉", "🔥🔥🔥 hot", "emoji at end 😅",
    "😅 emoji at start", "mid😀word", "👨‍👨‍👦‍👦 family", "🤷‍♀️", "🙋🏾‍♂️", "🫠🫡🫥",
    "🐍 + 🦀 = ❓", "☕️☕", "⭐⭐⭐⭐☆", "🇬🇧 vs 🇺🇦 vs 🇧🇷", "👁️‍🗨️", "🧔🏻‍♀️",
    "✌🏿", "🤝🏼", "😀 😃  😄   😁", "🙂\n🙃\n", "👋 Hello, world! 🌍🌎🌏",
]

MIXED = [
    "don't", "I'LL", "it's", "'s", "we've", "they're", "CAN'T", "o'clock", "rock 'n' roll",
    "He said 'hello' and she said \"goodbye\".", "don’t", "it’s the user’s", "I'm I'M i'M",
    "you'd've", "y'all", "'twas", "Jones' book", "'quoted'", "''", "'", "\"", "`backticks`",
    "Hello мир 世界 مرحبا שלום नमस्ते สวัสดี",
    "café", "cafe\u0301", "naïve résumé", "Straße STRASSE", "İstanbul ıi", "ﬁle ﬂow",
    "Ελληνικά: αβγδε ΑΒΓΔΕ", "Ünïcödé", "Ångström", "Ǆ ǅ ǆ", "ǰ̌", "a\u0300\u0301\u0302\u0303",
    "x\u200by", "zero\u200dwidth\u200cjoiners", "soft\u00adhyphen", "\u202eRTL override\u202c",
    "left\u200eright\u200fmarks", "e-mail: john.doe+test@example.com", "https://example.com/path?q=1&r=%20#frag",
    "C:\\Users\\name\\file.txt", "/usr/local/bin/engram --help", "**bold** _italic_ `code` [link](http://x.y)",
    "| a | b |\n|---|---|\n| 1 | 2 |", "- item one\n- item two\n  - nested", "> quote\n>> nested quote",
    "H₂O, E=mc², x³, ½, ∑∫∂√∞≠≤≥", "→ ← ↑ ↓ ⇒ ⇔", "★☆♠♣♥♦", "©®™℠", "…—–‐", "«guillemets» „Anführung“",
    "ABC abc AbC aBc", "UPPERCASE WORDS HERE", "camelCaseIdentifier snake_case_name kebab-case-name",
    "HTTPServerError XMLHttpRequest", "a.b.c", "e.g. i.e. etc.", "U.S.A.", "Mr. Smith vs. Mrs. Jones",
    "hello\x01world\x7f", "bell\x07 esc\x1b[0m", "tab\tseparated\tvalues", "line1\rline2",
    "Привет, как дела?", "مرحبا بالعالم", "שלום עולם", "नमस्ते दुनिया", "สวัสดีชาวโลก", "Xin chào thế giới",
    "Γειά σου Κόσμε", "ሰላም ልዑል", "Բարեւ աշխարհ", "გამარჯობა", "ᚠᚢᚦᚨᚱᚲ", "𝔘𝔫𝔦𝔠𝔬𝔡𝔢 𝕞𝕒𝕥𝕙",
    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
    "abababababababababababababababababab", "!!!!!!!!!!", "??!?!", "...", "----------", "==========",
    "________________", "~~~~", "$$$", "@@@ ### %%%", "((()))[[[]]]{{{}}}", "<<<>>>",
    # special-token strings that must NOT be parsed as special here (parse_special = false)
    "<|im_start|>user\nHi<|im_end|>\n", "text before <|endoftext|> text after", "<|im_end|>",
    "<file_sep><repo_name>", "<|im_start|", "<s> </s> [CLS] [SEP] <unk>",
]

SPECIAL = [
    "<|im_start|>user\nHi<|im_end|>\n",
    "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n",
    "<|im_start|>user\nWhat is 2+2?<|im_end|>\n<|im_start|>assistant\n",
    "<|im_start|>assistant\n4<|im_end|>\n",
    "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nTranslate \"chat\" to French.<|im_end|>\n<|im_start|>assistant\nLe chat.<|im_end|>\n",
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<|im_start|><|im_end|>",
    "<|im_end|><|im_start|>",
    "<|endoftext|><|endoftext|>",
    "Hello<|endoftext|>World",
    "Hello <|endoftext|> World",
    " <|im_start|> ",
    "\n<|im_end|>\n",
    "<|im_start|>user\n\n\n<|im_end|>",
    "<|im_start|>user\n你好，世界！<|im_end|>\n<|im_start|>assistant\n",
    "<|im_start|>user\n😀 emoji<|im_end|>",
    "<|im_start|>user\n  indented\n\ttabbed\n<|im_end|>\n",
    "<|im_start|", "<|im_start", "im_start|>", "<|IM_START|>", "< |im_start| >", "<|im_start|>>",
    "<<|im_start|>", "<|im_end|><|im_end|><|im_end|>",
    "<repo_name>engram<file_sep>src/main.cc\nint main() {}<|endoftext|>",
    "<filename>test.py\nprint(1)<|endoftext|>",
    "<gh_stars>100\n<issue_start>Bug report<issue_comment>Fixed.<issue_closed>",
    "<jupyter_start><jupyter_code>x = 1<jupyter_output>1<jupyter_text>done<empty_output>",
    "<reponame>x<jupyter_script>y",
    "<|im_start|>user\nUse <|im_end|> inside?<|im_end|>",
    "plain text with no special tokens at all",
    "<s>llama-style bos</s>",
    "[INST] not a special token here [/INST]",
    "<|im_start|>tool\n{\"name\": \"f\", \"arguments\": {\"x\": 1}}<|im_end|>\n",
    "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\nHello! How can I help?<|im_end|>\n<|im_start|>user\nTell me a joke.<|im_end|>\n<|im_start|>assistant\n",
    "<|endoftext|>\n\n<|endoftext|>",
    "x<|im_start|>y<|im_end|>z",
]

INVALID_HEX = [
    "80", "bf", "8080", "c3", "e2", "e282", "f0", "f09f", "f09f98", "ff", "fe", "fffe", "feff",
    "c0af", "c1bf", "c080", "e080af", "e08080", "f08080af", "f0808080", "f8888080af", "fc8480808080",
    "eda080", "edbfbf", "edafbf", "edb080", "eda0bdedb880", "f4908080", "f5808080", "f7bfbfbf",
    "c328", "a0a1", "e228a1", "e28228", "f0288cbc", "f09028bc", "f0288c28",
]
INVALID_EMBED = [  # (prefix, bad hex, suffix) — invalid bytes inside ordinary text
    ("hello ", "80", " world"), ("caf", "e9", " au lait"), ("na", "ef", "ve"), ("abc", "c3", ""),
    ("price: 5", "e282", ""), ("smile ", "f09f98", ""), ("x", "ff", "y"), ("BOM? ", "fffe", "text"),
    ("overlong slash ", "c0af", "etc/passwd"), ("", "eda080", " surrogate"), ("end ", "e4b8", ""),
    ("中文", "e4", "字"), ("emoji 😀", "9f98", " tail"), ("a", "c3c3", "b"), ("tab\t", "80bf80bf", "\t"),
    ("Latin-1: ", "c5d3d8e6", "!"), ("\n", "fe", "\n"), ("over ", "e08080", " long"),
    ("<|im_start|>", "ff", "<|im_end|>"), ("  ", "c0", "  "), ("ok ", "f4908080", " too big"),
    ("truncated at end ", "f09f8d", ""),
]


def synthetic_numbers(rng: random.Random, count):
    out = list(NUMBER_FIXED)
    while len(out) < count:
        r = rng.randrange(8)
        if r == 0:
            out.append("".join(rng.choice("0123456789") for _ in range(rng.randint(5, 60))))
        elif r == 1:
            out.append(f"{rng.randint(0, 10**9)}.{rng.randint(0, 10**6):06d}")
        elif r == 2:
            out.append(f"{rng.randint(1000, 10**12):,}")
        elif r == 3:
            out.append(f"{rng.randint(1900, 2100)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}")
        elif r == 4:
            out.append(" ".join(str(rng.randint(0, 999)) for _ in range(rng.randint(2, 12))))
        elif r == 5:
            out.append(f"The total was {rng.randint(1, 99999)} items at ${rng.randint(1, 999)}.{rng.randint(0, 99):02d} each.")
        elif r == 6:
            out.append(",".join(str(rng.randint(-500, 500)) for _ in range(rng.randint(3, 15))))
        else:
            out.append(f"{rng.uniform(-1e6, 1e6):.{rng.randint(1, 9)}f}")
    return out[:count]


def synthetic_whitespace(rng: random.Random, count):
    pieces = [" ", "  ", "   ", "    ", "\t", "\t\t", "\n", "\n\n", "\n\n\n", "\r\n", "\r\n\r\n", "\r",
              "\u00a0", "\u3000", "\u2009", "\u2002", "\u200b", "\x0b", "\x0c", "\u2028", "\u0085", " \n", "\t\n"]
    out = [" ", "  ", "\t", "\n", "\n\n\n", "\r\n", "\u00a0", "\u3000", " \t \n", "\n \n \n",
           " leading", "trailing ", "  both  ", "a  b", "a   b", "a    b", "a\tb", "a\nb", "a\r\nb",
           "a\u00a0b", "a\u3000b", "word\n\n\nword", "   \n\n   \n", "\t\tindented\n\t\t\tmore",
           " " * 40, "\n" * 20, "\t" * 10, "x" + " " * 17 + "y", "hello world ", " hello world",
           "  hello\n\n  world\n", "end with newline\n", "\nstart with newline", "dots . . . spaced",
           "1 \u00a0 2 \u3000 3", "\r\n\r\nwindows\r\nlines\r\n"]
    words = ["a", "the", "Hello", "world", "x1", "über", "中文", "ok", "it's", "42"]
    while len(out) < count:
        k = rng.randint(1, 6)
        s = ""
        for i in range(k):
            if rng.random() < 0.5:
                s += rng.choice(words)
            s += "".join(rng.choice(pieces) for _ in range(rng.randint(1, 3)))
        if rng.random() < 0.5:
            s += rng.choice(words)
        out.append(s)
    return out[:count]


def code_variants(count):
    out = list(CODE)
    i = 0
    while len(out) < count:
        src = CODE[i % len(CODE)]
        v = i // len(CODE)
        if v == 0:
            out.append(src.replace("    ", "\t"))
        elif v == 1:
            out.append(src.replace("\n", "\r\n"))
        elif v == 2:
            out.append("\n".join(line + "  " for line in src.split("\n")))
        else:
            out.append("        " + src.replace("\n", "\n        "))
        i += 1
    return out[:count]


def add_synthetic(bld: Builder):
    for t in code_variants(90):
        bld.add("code", text=t)
    for t in synthetic_numbers(random.Random("numbers"), 90):
        bld.add("numbers", text=t)
    for t in synthetic_whitespace(random.Random("whitespace"), 90):
        bld.add("whitespace", text=t)
    cjk = list(CJK)
    rng = random.Random("cjk")
    while len(cjk) < 60:
        a, b = rng.sample(CJK[:30], 2)
        cjk.append(a + rng.choice(["", " ", "\n"]) + b)
    for t in cjk:
        bld.add("cjk", text=t)
    emoji = list(EMOJI)
    rng = random.Random("emoji")
    while len(emoji) < 60:
        emoji.append(" ".join(rng.sample(EMOJI[:20], rng.randint(2, 5))))
    for t in emoji:
        bld.add("emoji", text=t)
    for t in MIXED:
        bld.add("mixed", text=t)
    for h in INVALID_HEX:
        bld.add("invalid_utf8", hex=h)
    for pre, bad, post in INVALID_EMBED:
        bld.add("invalid_utf8", hex=(pre.encode() + bytes.fromhex(bad) + post.encode()).hex())
    for t in SPECIAL:
        bld.add("special", text=t)


def dump_line(obj) -> str:
    """Compact JSON, UTF-8 kept readable, but C1 controls, DEL and U+2028/U+2029 escaped so that no
    line-splitting tool can break a line."""
    s = json.dumps(obj, ensure_ascii=False, separators=(",", ":"))
    return "".join(f"\\u{ord(ch):04x}" if (0x7F <= ord(ch) <= 0x9F or ch in "\u2028\u2029") else ch
                   for ch in s)


def main():
    bld = Builder()
    add_xquad(bld)
    add_squad(bld)
    add_essays(bld)
    add_locomo(bld)
    add_leval(bld)
    add_synthetic(bld)
    out = ct.CORPUS
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w", encoding="utf-8", newline="\n") as f:
        for c in bld.cases:
            f.write(dump_line(c) + "\n")
    # sanity: round trip, hex cases really invalid, spans valid UTF-8
    kinds = {}
    for c, b in ct.iter_cases(out):
        kinds[c["kind"]] = kinds.get(c["kind"], 0) + 1
        if "hex" in c:
            try:
                b.decode("utf-8")
                raise AssertionError(f"hex case {c['id']} is valid UTF-8")
            except UnicodeDecodeError:
                pass
        else:
            b.decode("utf-8")
    total = sum(c["bytes"] for c in bld.cases)
    print(f"wrote {out} ({out.stat().st_size} bytes): {len(bld.cases)} cases, {total} text bytes")
    for k in sorted(kinds):
        print(f"  {k:14s} {kinds[k]}")


if __name__ == "__main__":
    main()
