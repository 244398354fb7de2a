@file:OptIn(UnsafeWasmMemoryApi::class, kotlin.wasm.ExperimentalWasmInterop::class)

// {{name}}: a WASI command built with `qyv build` (kotlinc-wasm) and run with `qyv run`.
// Kotlin/Wasm's WASI standard library has no API for arguments or environment variables yet,
// so they are read with the WASI preview1 calls themselves.

import kotlin.wasm.WasmImport
import kotlin.wasm.unsafe.Pointer
import kotlin.wasm.unsafe.UnsafeWasmMemoryApi
import kotlin.wasm.unsafe.withScopedMemoryAllocator

@WasmImport("wasi_snapshot_preview1", "args_sizes_get")
private external fun argsSizesGet(countPtr: Int, sizePtr: Int): Int

@WasmImport("wasi_snapshot_preview1", "args_get")
private external fun argsGet(argvPtr: Int, bufPtr: Int): Int

@WasmImport("wasi_snapshot_preview1", "environ_sizes_get")
private external fun environSizesGet(countPtr: Int, sizePtr: Int): Int

@WasmImport("wasi_snapshot_preview1", "environ_get")
private external fun environGet(environPtr: Int, bufPtr: Int): Int

private fun readStrings(sizes: (Int, Int) -> Int, get: (Int, Int) -> Int): List<String> =
    withScopedMemoryAllocator { alloc ->
        val counts = alloc.allocate(8)
        check(sizes(counts.address.toInt(), (counts + 4).address.toInt()) == 0)
        val n = counts.loadInt()
        val size = (counts + 4).loadInt()
        val ptrs = alloc.allocate(maxOf(n * 4, 4))
        val buf = alloc.allocate(maxOf(size, 1))
        check(get(ptrs.address.toInt(), buf.address.toInt()) == 0)
        List(n) { i ->
            var p = Pointer((ptrs + i * 4).loadInt().toUInt())
            val bytes = ArrayList<Byte>()
            while (true) {
                val b = p.loadByte()
                if (b == 0.toByte()) break
                bytes.add(b)
                p += 1
            }
            bytes.toByteArray().decodeToString()
        }
    }

fun main() {
    // GREETING is a host variable the manifest grants (permissions.env); unset, it falls back.
    val env = readStrings(::environSizesGet, ::environGet)
        .associate { it.substringBefore('=') to it.substringAfter('=', "") }
    println("${env["GREETING"] ?: "Hello"} from {{name}}!")
    println((listOf("args:") + readStrings(::argsSizesGet, ::argsGet).drop(1)).joinToString(" "))
}
