#!/usr/bin/python3
"""mkhard.py - the hand-made hard set for the tokenizer tests.

Writes lines (bytes, LF-separated; some deliberately invalid UTF-8) that
stress every rule of the two tokenizers: scripts, normalization, emoji
sequences, odd whitespace and control characters, BOM, CR, runs of
spaces, numbers, URLs, contractions, word-length limits, special-token
spellings, sentence pairs (TAB) and invalid UTF-8 of every kind.
"""
import sys

L = []


def add(*xs):
    for x in xs:
        L.append(x.encode('utf-8', 'surrogatepass') if isinstance(x, str) else x)


# --- scripts and languages
add('Hello, world! This is a test.',
    '混合中文和English的句子，还有数字123和标点。',
    '日本語のテキスト：ひらがな、カタカナ、漢字。東京タワーは333メートル。',
    '한국어 문장입니다. 안녕하세요, 세계!',
    '\u1100\u1161\u11a8 \u1112\u1161\u11ab\u1100\u1173\u11af NFD jamo',
    'Ελληνικά: ΟΔΥΣΣΕΥΣ σοφός Σίσυφος ΣΑΣ ς σ Σ',
    'العربية: مَرْحَبًا بِالعَالَم ١٢٣ ٤٥٦',
    'עברית: שָׁלוֹם עוֹלָם',
    'हिन्दी: नमस्ते दुनिया, क्षत्रिय ॐ १२३',
    'ไทย: สวัสดีชาวโลก',
    'Tiếng Việt: Xin chào thế giới, người Việt',
    'Русский: Привет, мир! Ёлка ЁЛКА',
    'Deutsch: Größenwahn, Straße, STRASSE, Ärger, Öl, Übel',
    'Français: œuvre, cœur, naïve, déjà vu, Noël',
    'Türkçe: İstanbul, ışık, IĞDIR, i̇',
    'Ελληνικό ερωτηματικό; (U+037E) και άνω τελεία·',
    'ﬁ ﬂ ﬀ ﬃ ligatures, ẞ capital sharp s, Ǆ ǅ ǆ',
    'ǰ ΐ ΰ ẖ ẗ ẘ ẙ ẚ special casing',
    'Ⅻ ⅻ ½ ¾ ² ³ ¹ ⁴ ₅ ① ⑳ 〇 零',
    'math: 𝐀𝐁𝐂 𝔄𝔅 𝕬 ∀x∈ℝ: x²≥0, ∑ᵢ aᵢ ≠ ∞',
    'CJK ext: 𠀀 𪛖 𫜴 𫝀 𫠝 𫠠 𬺰 𮯠 𰀀 丽 (U+2B81F U+2B820 U+2B91F U+2B920)',
    '\U0002B81F\U0002B820\U0002B8FF\U0002B91F\U0002B920 boundary',
    '㐀 䶵 一 鿿 豈 﫿 丽 𯨟 compatibility ideographs 豈更',
    'Ａ全角ＡＢＣ１２３！？ halfwidth ｶﾀｶﾅ',
    )
# --- NFC / NFD / combining marks
add('café cafe\u0301 CAFÉ CAFE\u0301',
    'e\u0301\u0301 a\u0300\u0316 a\u0316\u0300 (marks in both orders)',
    'x\U0001D16D\U0001D165y x\U0001D165\U0001D16Dy musical marks (Mc, reorder)',
    'x\u0F71\u0F72\u0F74 \u0F73 \u0F75 \u0F81 tibetan',
    'Å Å Å Ω Ω K K',
    '\u0300\u0301 leading marks, a\u20dd enclosing, 1\ufe0f\u20e3 keycap',
    'ḍ̇ ḍ̇ q̣̇ q̣̇ stacked',
    'n\u0303 ñ N\u0303 Ñ \u1e09 \u0107\u0327',
    )
# --- emoji
add('emoji 😀😃😄 👍🏽👍🏿 👩‍👩‍👧‍👦 🏳️‍🌈 🏴‍☠️ 🇫🇷🇯🇵 ❤️ ✈︎',
    '👨🏽‍💻 coder, 🧑‍🤝‍🧑 people, family👨‍👩‍👧 no space',
    'mixed😀text🎉here and 🇺🇳🇺',
    )
# --- zero-width and format characters
add('zero\u200bwidth\u200cnon\u200djoiner\u2060word\ufeffjoiner',
    'soft\u00adhyphen, bidi \u202aLRE\u202c \u200eLRM\u200f \u061c',
    '\ufeffBOM at start, and \ufeff in middle',
    'tags \U000E0001\U000E0067\U000E0062\U000E007F and variation\ufe0f\ufe0e',
    'private use \ue000\uf8ff\U000F0000\U0010FFFD, noncharacters \ufdd0\ufffe\uffff\U0001FFFF',
    'unassigned \u0378\u0379 \U0002FFFF \U000E0000 \u08b5 \u1AFF',
    'specials \ufff9\ufffa\ufffb\ufffc\ufffd replacement',
    )
# --- whitespace and control characters, every one in context
for c in list(range(0, 0x20)) + [0x7f] + list(range(0x80, 0xa1)):
    if c == 0x0a:
        continue
    add('ctl%02X:a%sb %s c%s%sd' % (c, chr(c), chr(c), chr(c), chr(c)))
for c in [0x85, 0xa0, 0x1680, 0x180e] + list(range(0x2000, 0x200c)) + \
        [0x2028, 0x2029, 0x202f, 0x205f, 0x3000, 0x3164, 0xffa0, 0x115f]:
    add('ws%04X:a%sb %s c%s%s d  %s' % (c, chr(c), chr(c), chr(c), chr(c), chr(c)))
add('tabs\tbetween\t\twords\t',
    '\tleading tab', '  two leading spaces', 'trailing spaces   ',
    'runs:a b  c   d    e     f      g       h',
    'space then tab \t x, tab then space\t x, nbsp\u00a0 x',
    'CR in\rmiddle', 'CR at end\r', '\r', 'CRLF\r', '   ', '\t', ' ',
    ' a', 'a ', '  a  ', 'a\u3000b', '\u3000\u3000a',
    '',
    'NUL\x00in\x00the\x00middle',
    '\x00', '\x00\x00 \x00',
    'vertical\x0btab form\x0cfeed file\x1csep unit\x1fsep',
    'next\u0085line line\u2028sep para\u2029sep',
    )
# --- numbers, URLs, code-ish text
add('1,234,567.89 3.14159 -42 +7 1e-10 0x1F 0b1010 007 1st 2nd 3rd 4th',
    'phone: +1 (555) 123-4567, date 2024-02-29T12:34:56Z, 12:00pm',
    'https://example.com/path/to/page?query=1&other=two#fragment',
    'mailto:someone@example.org ftp://ftp.example.net/pub/file.tar.gz',
    'C:\\Users\\name\\file.txt /usr/local/bin/tok --help',
    'int main(void) { return a[i++] >= b->c ? x << 2 : y >> 3; }',
    'def f(x): return {"k": [1, 2, 3]}  # comment',
    '$HOME ${var:-default} $(cmd) `tick` ~user @decorator #hashtag',
    '...... !!!!! ????? ----- _____ ===== ***** ##### &&&&& |||||',
    '"quotes" \'single\' «guillemets» „German“ “curly” ‘single’ — – ‐',
    '100% 50°C 9.99€ $5 £3 ¥1000 ₹20 ¢ ₿',
    )
# --- contractions and apostrophes
add("don't I'm they're we've you'll he'd it's DON'T I'M 'S 'T 'RE",
    "it’s don’t (curly) rock'n'roll o'clock 'tis ''double''",
    "'s's 'll've x'sy 'm'm 'd'd 'x", "'", "''", "'s", " 's", "a'",
    )
# --- word lengths around max_input_chars_per_word (100)
for n in (99, 100, 101, 150):
    add('a' * n, 'x ' + 'b' * n + ' y')
add('é' * 100, 'é' * 101, 'É' * 99 + 'É', 'ab' * 50 + '.', '日' * 101)
add('supercalifragilisticexpialidocious antidisestablishmentarianism pneumonoultramicroscopicsilicovolcanoconiosis')
# --- special-token spellings
add('[CLS] Hello [SEP] world [SEP]', 'foo[MASK]bar [MASK][MASK] [MASK]s',
    '[mask] [Mask] [ MASK ] [MASK [PAD][UNK][CLS][SEP] [unused0] [UNK]',
    'x<|endoftext|>y <|endoftext|><|endoftext|> <|endoftext|',
    '<|ENDOFTEXT|> < |endoftext| > <|endoftext|>\u0301',
    '[SEP]\t[CLS]', '<|endoftext|>', '[MASK]', ' [MASK] ',
    )
# --- sentence pairs (TAB)
add('The first sentence.\tThe second sentence.',
    'a\tb', '\tonly B', 'only A\t', '\t', 'x\ty\tz three parts',
    'Wie geht es dir?\t我很好，谢谢！',
    'A long first sentence with many words in it to force truncation of the longer side first.\tShort.',
    'Short.\tA long second sentence with many words in it to force truncation of the longer side first.',
    'Both sentences are fairly long here, yes indeed they are.\tAnd this second one is also long, about as long.',
    )
# --- invalid UTF-8 of every kind
inv = [
    b'lone cont \x80 \xbf \x80\x80\x80\x80',
    b'overlong \xc0\x80 \xc1\xbf \xe0\x80\x80 \xe0\x9f\xbf \xf0\x80\x80\x80 \xf0\x8f\xbf\xbf',
    b'surrogates \xed\xa0\x80 \xed\xbf\xbf \xed\xa0\x80\xed\xb0\x80',
    b'too big \xf4\x90\x80\x80 \xf5\x80\x80\x80 \xf7\xbf\xbf\xbf \xf8\x88\x80\x80\x80 \xfc\x84\x80\x80\x80\x80',
    b'bad bytes \xfe \xff \xfe\xff \xc0 \xc1 \xf5 \xf8',
    b'truncated \xc3 \xe2\x82 \xf0\x9f\x98 end',
    b'truncated at end \xe2\x82',
    b'\xf0\x9f\x98',
    b'\xc3',
    b'truncated then ascii \xe2\x82x \xf0\x9fy \xf0\x9f\x98z',
    b'mixed valid\xc3\xa9invalid\xc3(\xa9)\xe2\x28\xa1 \xe2\x82\x28',
    b'latin1 caf\xe9 na\xefve \xa9 2024',
    b'cp1252 \x93quotes\x94 \x96 dash \x85',
    b'\xef\xbb\xbfBOM bytes then \xef\xbb text',
    b'\x80abc\xffdef\xc2',
    b'[MASK]\xff[SEP]\xfe<|endoftext|>\x80',
    b'word\xe2\x80\x8bwith\xe2\x80zero\xe2width',
]
L.extend(inv)
sys.stdout.buffer.write(b'\n'.join(L) + b'\n')
