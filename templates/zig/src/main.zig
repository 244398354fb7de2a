//! {{name}}: a WASI command built with `qyv build` (zig) and run with `qyv run`.
const std = @import("std");

pub fn main(init: std.process.Init) !void {
    const io = init.io;
    const arena = init.arena.allocator();
    var buffer: [1024]u8 = undefined;
    var writer = std.Io.File.stdout().writer(io, &buffer);
    const out = &writer.interface;
    // GREETING is a host variable the manifest grants (permissions.env); unset, it falls back.
    const greeting = init.environ_map.get("GREETING") orelse "Hello";
    try out.print("{s} from {{name}}!\n", .{greeting});
    try out.writeAll("args:");
    const args = try init.minimal.args.toSlice(arena);
    for (args[1..]) |arg| try out.print(" {s}", .{arg});
    try out.writeAll("\n");
    try out.flush();
}
