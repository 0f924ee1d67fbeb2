/*  =========================================================================
    ih_fuzz - what the libFuzzer targets in fuzz/ share

    Each fuzz_<name>.c feeds raw bytes into one decoder of libihproto or
    libihhub, as the network, the log or the file system would. This header
    quiets CZMQ (no log lines per input, no signal handlers that would
    fight libFuzzer's), owns the one scratch directory the file-reading
    targets write into, and gives the targets a check that aborts (so
    libFuzzer records a crash) when an invariant of a decoder breaks.

    Header-only on purpose: each target is one executable built from one
    .c file. Set IH_FUZZ_VERBOSE=1 to keep the decoders' log lines.
    =========================================================================*/
#ifndef IH_FUZZ_H_INCLUDED
#define IH_FUZZ_H_INCLUDED

#include <czmq.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

//  An invariant of the code under test, not of the input: abort so that
//  libFuzzer saves the input as a crash. Unlike assert, never compiled out.
#define IH_FUZZ_CHECK(cond)                                                    \
    do {                                                                       \
        if (!(cond)) {                                                         \
            fprintf (stderr, "fuzz: invariant failed at %s:%d: %s\n",          \
                     __FILE__, __LINE__, #cond);                               \
            abort ();                                                          \
        }                                                                      \
    } while (0)

//  Call once from LLVMFuzzerInitialize, before anything touches CZMQ.
static inline void
ih_fuzz_init (void)
{
    //  libFuzzer handles SIGINT/SIGTERM itself (it prints stats, merges)
    setenv ("ZSYS_SIGHANDLER", "false", 1);
    //  zsys_init sets the log stream to stdout if none is set, so it has
    //  to run before the stream is switched off
    zsys_init ();
    zsys_handler_set (NULL);
    const char *verbose = getenv ("IH_FUZZ_VERBOSE");
    if (!verbose || !streq (verbose, "1")) {
        zsys_set_logsystem (false);
        zsys_set_logstream (NULL);
    }
}

//  The scratch directory, created on first use under $TMPDIR (else /tmp)
//  and removed at exit; files the targets write live only in it.
static char s_fuzz_dir[4096];

static inline void
s_fuzz_dir_remove (void)
{
    if (!*s_fuzz_dir)
        return;
    zdir_t *dir = zdir_new (s_fuzz_dir, NULL);
    if (dir) {
        zdir_remove (dir, true);
        zdir_destroy (&dir);
    }
    rmdir (s_fuzz_dir);
}

static inline const char *
ih_fuzz_dir (void)
{
    if (!*s_fuzz_dir) {
        const char *tmp = getenv ("TMPDIR");
        snprintf (s_fuzz_dir, sizeof (s_fuzz_dir), "%s/ih-fuzz-XXXXXX",
                  tmp && *tmp ? tmp : "/tmp");
        if (!mkdtemp (s_fuzz_dir)) {
            perror ("fuzz: mkdtemp");
            abort (); //  the harness cannot run, not a finding
        }
        atexit (s_fuzz_dir_remove);
    }
    return s_fuzz_dir;
}

//  Replaces file name in the scratch directory with data, created with
//  mode (and chmod'ed to it, whatever the umask). Returns the path, which
//  stays valid until the next call; aborts if the file cannot be written.
static inline const char *
ih_fuzz_write (const char *name, const uint8_t *data, size_t size, mode_t mode)
{
    static char path[4200];
    snprintf (path, sizeof (path), "%s/%s", ih_fuzz_dir (), name);
    unlink (path);
    FILE *file = fopen (path, "wbx");
    if (!file || (size && fwrite (data, 1, size, file) != size) ||
        chmod (path, mode) != 0) {
        perror ("fuzz: cannot write the scratch file");
        abort ();
    }
    fclose (file);
    return path;
}

#endif
