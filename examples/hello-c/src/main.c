/* hello-c: a WASI command built with `qyv build` (zig cc) and run with `qyv run`. */
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv) {
    /* GREETING is a host variable the manifest grants (permissions.env); unset, it falls back. */
    const char *greeting = getenv("GREETING");
    printf("%s from hello-c!\n", greeting ? greeting : "Hello");
    printf("args:");
    for (int i = 1; i < argc; i++) {
        printf(" %s", argv[i]);
    }
    printf("\n");
    return 0;
}
