#!/usr/bin/env python3
"""Converts a GGUF model to F16 with the gguf package: every 2-D tensor dequantized by
gguf.quants and stored as f16, 1-D tensors (norms, biases) as f32, metadata copied in order with
general.file_type = 1 (MOSTLY_F16).

engram's golden tests compare the default model *and* this conversion with llama.cpp: agreement
on the F16 model separates engram's arithmetic from quantization effects.

Usage: python3 make_f16_model.py IN.gguf OUT.gguf   (needs gguf==0.19.0 and numpy)
"""
import sys

import numpy as np
from gguf import GGUFReader, GGUFValueType, GGUFWriter, GGMLQuantizationType
from gguf.quants import dequantize


def copy_field(writer, field):
    name = field.name
    if name.startswith("GGUF.") or name == "general.architecture":
        return  # written by the writer itself
    vtype = field.types[0]
    if name == "general.file_type":
        writer.add_uint32(name, 1)
        return
    if vtype == GGUFValueType.ARRAY:
        item_type = field.types[1]
        if item_type == GGUFValueType.STRING:
            values = [bytes(field.parts[i]).decode("utf-8") for i in field.data]
        else:
            values = [field.parts[i].tolist()[0] for i in field.data]
        writer.add_array(name, values)
        return
    if vtype == GGUFValueType.STRING:
        writer.add_string(name, bytes(field.parts[field.data[0]]).decode("utf-8"))
        return
    value = field.parts[field.data[0]].tolist()[0]
    writer.add_key_value(name, value, vtype)


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: make_f16_model.py IN.gguf OUT.gguf")
    reader = GGUFReader(sys.argv[1])
    arch = bytes(reader.fields["general.architecture"].parts[-1]).decode()
    writer = GGUFWriter(sys.argv[2], arch)
    for field in reader.fields.values():
        copy_field(writer, field)
    for t in reader.tensors:
        values = dequantize(t.data, t.tensor_type).reshape([int(d) for d in reversed(t.shape)])
        if values.ndim >= 2:
            writer.add_tensor(t.name, values.astype(np.float16))
        else:
            writer.add_tensor(t.name, values.astype(np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


if __name__ == "__main__":
    main()
