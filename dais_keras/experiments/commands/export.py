"""`dais export`: a `.keras` file or zoo entry to TFLite or ONNX, checked
against Keras."""

import json
import pathlib

from dais_keras.experiments.commands import CommandError


def _load_array(spec, count, argument):
    """Reads `PATH.npy` or `PATH.npz[:KEY]` (key default `x`)."""
    import numpy as np

    path, _, key = spec.partition(":") if not pathlib.Path(spec).exists() else (spec, "", "")
    path = pathlib.Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{argument}: no such file '{path}'")
    data = np.load(path, allow_pickle=False)
    if isinstance(data, np.ndarray):
        array = data
    else:
        names = list(data.keys())
        key = key or ("x" if "x" in names else (names[0] if len(names) == 1 else None))
        if key not in names:
            raise ValueError(
                f"{argument}: '{path}' holds arrays {names}; name one as "
                f"'{path}:KEY' (default key 'x')."
            )
        array = data[key]
    return array[:count] if count else array


def configure(parser):
    parser.add_argument("model", help="a .keras file, or a zoo entry 'name' / 'name@version'")
    parser.add_argument("--out", required=True, help="output file (.tflite or .onnx)")
    parser.add_argument(
        "--format", choices=["tflite", "litert", "onnx"],
        help="output format (default: from the suffix of --out)",
    )
    parser.add_argument(
        "--quantize", choices=["none", "dynamic", "int8"], default="none",
        help="TFLite quantization: dynamic-range, or full-integer int8 (needs "
        "--representative-data) (default: none)",
    )
    parser.add_argument(
        "--representative-data", metavar="FILE[:KEY]",
        help="calibration inputs for int8: a .npy file or a .npz array (key 'x' by default)",
    )
    parser.add_argument(
        "--representative-count", type=int, default=500, metavar="N",
        help="use the first N calibration inputs (default: 500)",
    )
    parser.add_argument(
        "--sample", metavar="FILE[:KEY]",
        help="inputs for the parity check (.npy or .npz); default: random "
        "pixels, or the calibration inputs for int8",
    )
    parser.add_argument("--sample-count", type=int, default=None, metavar="N",
                        help="use the first N sample inputs")
    parser.add_argument("--batch-size", type=int, default=None, metavar="N",
                        help="fix the batch dimension (default: dynamic)")
    parser.add_argument("--opset", type=int, default=None, help="ONNX opset (default: the converter's)")
    parser.add_argument("--integer-io", action="store_true", help="int8 input and output (with --quantize int8)")
    parser.add_argument("--rtol", type=float, default=None,
                        help="largest accepted relative error (default: 1e-4 for float files)")
    parser.add_argument("--min-top1-agreement", type=float, default=None,
                        help="smallest accepted top-1 agreement (default: 0.98 for int8)")
    parser.add_argument("--no-check", action="store_true", help="do not run the file against Keras")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    parser.add_argument("--zoo-dir", help="zoo directory (default: $DAIS_ZOO_DIR or the repository's zoo/)")
    parser.add_argument("--cache-dir", help="download cache (default: $DAIS_KERAS_CACHE/zoo or ~/.cache/dais_keras/zoo)")


DESCRIPTION = """\
Export a .keras file or a zoo entry to TFLite (LiteRT) or ONNX, then run the
written file next to Keras and check that the outputs agree.

examples:
  dais export resnet56-cifar10-dais50@1 --out m.tflite
  dais export pruned.keras --out m.onnx
  dais export pruned.keras --out m_int8.tflite --quantize int8 \\
      --representative-data train.npz:x --sample test.npz:x
"""


def run(args):
    """Exports, checks and prints the result; a failed parity check is a
    `CommandError` (exit code 1)."""
    from dais_keras.deploy import export as export_lib

    try:
        result = _export(args, export_lib)
    except export_lib.ExportParityError as e:
        raise CommandError(str(e)) from e
    print(json.dumps(result.to_dict(), indent=2) if args.json else result)
    return 0


def _export(args, export_lib):
    from dais_keras.deploy import zoo

    fmt = args.format or {".tflite": "tflite", ".onnx": "onnx"}.get(pathlib.Path(args.out).suffix)
    fmt = {"litert": "tflite"}.get(fmt, fmt)
    if fmt is None:
        raise ValueError(f"Cannot tell the format of '{args.out}'; pass --format tflite or onnx.")
    quantize = None if args.quantize == "none" else args.quantize
    if fmt == "onnx":
        tflite_only = {
            "--quantize": quantize, "--representative-data": args.representative_data,
            "--integer-io": args.integer_io or None, "--min-top1-agreement": args.min_top1_agreement,
        }
        used = [flag for flag, value in tflite_only.items() if value is not None]
        if used:
            raise ValueError(f"{', '.join(used)} apply to TFLite only, not to ONNX export.")

    source = pathlib.Path(args.model)
    if source.is_file():
        model = source
    elif source.suffix == ".keras" or "/" in args.model or "\\" in args.model:
        raise FileNotFoundError(f"No such model file '{args.model}'.")
    else:
        model = zoo.load(args.model, zoo_dir=args.zoo_dir, cache_dir=args.cache_dir)

    # Progress lines only where they cannot mix into the JSON on stdout.
    kwargs = dict(check=not args.no_check, batch_size=args.batch_size,
                  verbose=0 if args.json else "auto")
    if args.sample:
        kwargs["sample"] = _load_array(args.sample, args.sample_count, "--sample")
    if fmt == "onnx":
        if args.rtol is not None:
            kwargs["rtol"] = args.rtol
        result = export_lib.onnx(model, args.out, opset=args.opset, **kwargs)
    else:
        if args.opset is not None:
            raise ValueError("--opset applies to ONNX only.")
        representative = None
        if args.representative_data:
            representative = _load_array(
                args.representative_data, args.representative_count, "--representative-data"
            )
        result = export_lib.tflite(
            model, args.out, quantize=quantize, representative_data=representative,
            rtol=args.rtol, min_top1_agreement=args.min_top1_agreement,
            integer_io=args.integer_io, **kwargs,
        )
    return result


COMMANDS = [dict(name="export", help="Export a .keras file or zoo entry to TFLite or ONNX.",
                 configure=configure, run=run, description=DESCRIPTION)]
