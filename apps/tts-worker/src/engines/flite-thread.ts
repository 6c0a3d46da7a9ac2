/**
 * Thread side of the flite engine: runs flite.wasm with flite-CLI argv and returns the WAV file it wrote.
 *
 * It implements the dozen WASI preview1 calls flite makes in memory instead of using `node:wasi`: on
 * Node 20, `node:wasi` crashes the whole process (SIGSEGV) once a clustergen voice (rms, awb, slt) grows
 * its memory past ~64 MB, i.e. ~2 MB of WAV, about 20 sentences. The shim also needs no temp files.
 * Every file flite opens is the one output file; stdout/stderr are kept for error messages.
 *
 * Must stay self-contained (see ThreadInit in thread-pool.ts): no imports, no module-scope names.
 */
export function fliteThread(wasm: WebAssembly.Module): (argv: string[]) => Uint8Array {
  return (argv) => {
    const encoder = new TextEncoder();
    const args = argv.map((a) => encoder.encode(`${a}\0`));
    const exit = { code: -1 };
    let memory: WebAssembly.Memory | undefined;
    const view = () => new DataView(memory!.buffer);
    let out = new Uint8Array(1 << 20);
    let outLength = 0;
    let outPos = 0;
    let log = '';
    const BADF = 8;
    const OUT_FD = 4;
    const imports = {
      args_sizes_get(countPtr: number, sizePtr: number) {
        view().setUint32(countPtr, args.length, true);
        view().setUint32(sizePtr, args.reduce((n, a) => n + a.length, 0), true);
        return 0;
      },
      args_get(ptrs: number, buf: number) {
        for (const a of args) {
          view().setUint32(ptrs, buf, true);
          new Uint8Array(memory!.buffer).set(a, buf);
          ptrs += 4;
          buf += a.length;
        }
        return 0;
      },
      clock_time_get(_id: number, _precision: bigint, ptr: number) {
        view().setBigUint64(ptr, process.hrtime.bigint(), true);
        return 0;
      },
      fd_close: () => 0,
      fd_fdstat_get(fd: number, ptr: number) {
        const v = view();
        v.setUint8(ptr, fd <= 2 ? 2 : fd === 3 ? 3 : 4); // char device, directory, regular file
        v.setUint16(ptr + 2, 0, true);
        v.setBigUint64(ptr + 8, 0xffffffffffffffffn, true);
        v.setBigUint64(ptr + 16, 0xffffffffffffffffn, true);
        return 0;
      },
      fd_fdstat_set_flags: () => 0,
      // One preopened directory, fd 3, named "/out".
      fd_prestat_get(fd: number, ptr: number) {
        if (fd !== 3) return BADF;
        view().setUint32(ptr, 0, true);
        view().setUint32(ptr + 4, 4, true);
        return 0;
      },
      fd_prestat_dir_name(fd: number, ptr: number, len: number) {
        if (fd !== 3) return BADF;
        new Uint8Array(memory!.buffer).set(encoder.encode('/out').subarray(0, len), ptr);
        return 0;
      },
      fd_read: () => BADF,
      fd_seek(fd: number, offset: bigint, whence: number, ptr: number) {
        if (fd !== OUT_FD) return BADF;
        outPos = Number(offset) + (whence === 1 ? outPos : whence === 2 ? outLength : 0);
        view().setBigUint64(ptr, BigInt(outPos), true);
        return 0;
      },
      fd_write(fd: number, iovs: number, count: number, writtenPtr: number) {
        const v = view();
        let written = 0;
        for (let i = 0; i < count; i++) {
          const bytes = new Uint8Array(memory!.buffer, v.getUint32(iovs + i * 8, true), v.getUint32(iovs + i * 8 + 4, true));
          if (fd === OUT_FD) {
            if (outPos + bytes.length > out.length) {
              const grown = new Uint8Array(Math.max(out.length * 2, outPos + bytes.length));
              grown.set(out.subarray(0, outLength));
              out = grown;
            }
            out.set(bytes, outPos);
            outPos += bytes.length;
            outLength = Math.max(outLength, outPos);
          } else if (log.length < 4000) {
            log += new TextDecoder().decode(bytes);
          }
          written += bytes.length;
        }
        v.setUint32(writtenPtr, written, true);
        return 0;
      },
      path_open(
        _dir: number,
        _lookup: number,
        _path: number,
        _pathLength: number,
        _openFlags: number,
        _rights: bigint,
        _inheritedRights: bigint,
        _fdFlags: number,
        fdPtr: number,
      ) {
        outLength = outPos = 0; // flite opens only its output file, for writing
        view().setUint32(fdPtr, OUT_FD, true);
        return 0;
      },
      proc_exit(code: number) {
        exit.code = code;
        throw exit;
      },
    };
    const instance = new WebAssembly.Instance(wasm, { wasi_snapshot_preview1: imports });
    memory = instance.exports.memory as WebAssembly.Memory;
    try {
      (instance.exports._start as () => void)();
      exit.code = 0;
    } catch (err) {
      if (err !== exit) throw err;
    }
    if (exit.code !== 0 || outLength === 0) {
      throw new Error(`flite exited with code ${exit.code}${log ? `: ${log.trim()}` : ''}`);
    }
    return out.subarray(0, outLength);
  };
}
