"""Run google-research/bert's create_pretraining_data.py from a local
checkout with the TensorFlow stand-in beside this file.

    python3 bench/google/run.py CHECKOUT [--ids FILE] -- FLAGS...

FLAGS are the reference's own (--input_file, --output_file, --vocab_file,
--max_seq_length, --dupe_factor, --do_whole_word_mask, ...).  With --ids,
the input is also written as its FullTokenizer ids, one line per sentence
and an empty line ending a document (the shape of `tok` output), for
feeding the same ids to `nsp --google`.
"""
import os
import sys

here = os.path.dirname(os.path.abspath(__file__))


def main():
    args = sys.argv[1:]
    if len(args) < 2 or "--" not in args:
        sys.exit(__doc__)
    sep = args.index("--")
    checkout, opts, flags = args[0], args[1:sep], args[sep + 1:]
    sys.path[:0] = [here, checkout]
    import tensorflow as tf
    import create_pretraining_data as ref
    import tokenization

    ids_out = None
    if opts[:1] == ["--ids"] and len(opts) == 2:
        ids_out = opts[1]
    elif opts:
        sys.exit(__doc__)
    argv = tf.flags.FLAGS._parse(["create_pretraining_data.py"] + flags)
    if ids_out:
        F = tf.flags.FLAGS
        tok = tokenization.FullTokenizer(F.vocab_file, F.do_lower_case)
        with open(ids_out, "w") as out:
            for path in F.input_file.split(","):
                with tf.gfile.GFile(path) as f:
                    for line in f:
                        line = tokenization.convert_to_unicode(line).strip()
                        if not line:
                            out.write("\n")
                            continue
                        ids = tok.convert_tokens_to_ids(tok.tokenize(line))
                        if ids:
                            out.write(" ".join(map(str, ids)) + "\n")
    ref.main(argv)


if __name__ == "__main__":
    main()
