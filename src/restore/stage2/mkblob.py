#!/usr/bin/env python3
"""Links the restorer objects into a flat, position-independent blob.

usage: mkblob.py CC LDSCRIPT OUT_BIN OUT_S ARCHIVE

Fails the build if any object needs a relocation other than PC-relative
ones: the blob is copied to an address chosen at restore time, so an
absolute address anywhere in it would point into the old address space.
"""
import os
import subprocess
import sys

ALLOWED = {"R_X86_64_PC32", "R_X86_64_PLT32", "R_X86_64_NONE"}


def main():
    cc, lds, out_bin, out_s, archive = sys.argv[1:6]
    relocs = subprocess.run(["readelf", "-rW", archive], check=True,
                            capture_output=True, text=True).stdout
    section = ""
    for line in relocs.splitlines():
        if line.startswith("Relocation section"):
            section = line.split("'")[1]
            continue
        fields = line.split()
        if len(fields) < 3 or not fields[2].startswith("R_X86_64"):
            continue
        if section.startswith((".rela.debug", ".rela.eh_frame")):
            continue
        if fields[2] not in ALLOWED:
            sys.exit(f"mkblob: {archive}: relocation {fields[2]} in {section} "
                     "is not position independent")
    elf = out_bin + ".elf"
    subprocess.run([cc, "-nostdlib", "-nostartfiles", "-static", "-Wl,--build-id=none",
                    "-Wl,-T," + lds, "-Wl,--whole-archive", archive,
                    "-Wl,--no-whole-archive", "-o", elf], check=True)
    subprocess.run(["objcopy", "-O", "binary", elf, out_bin], check=True)
    with open(out_s, "w") as f:
        f.write('\t.section .rodata\n\t.balign 4096\n\t.globl ckpt_restorer_blob\n'
                '\t.hidden ckpt_restorer_blob\nckpt_restorer_blob:\n'
                f'\t.incbin "{os.path.abspath(out_bin)}"\n'
                '\t.globl ckpt_restorer_blob_end\n\t.hidden ckpt_restorer_blob_end\n'
                'ckpt_restorer_blob_end:\n'
                '\t.section .note.GNU-stack,"",@progbits\n')


if __name__ == "__main__":
    main()
