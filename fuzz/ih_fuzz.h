/*  =========================================================================
    ih_fuzz - what the libFuzzer targets in fuzz/ share

    Each fuzz_<name>.c feeds raw bytes into one decoder of libihproto or
    libihhub, as the network, the log or the file system would. This header
    quiets CZMQ (no log lines per input, no signal handlers that would
    fight libFuzzer's) in the one LLVMFuzzerInitialize they all define
    with IH_FUZZ_INITIALIZE, owns the one scratch directory the
    file-reading targets write into, copies the input for the targets
    that need it owned or NUL-terminated, and gives the targets a check
    that aborts (so libFuzzer records a crash) when an invariant of a
    decoder breaks, plus the checks that two targets share: a config
    loader's answer (hubconf, agentconf) and the msgpack round trip of a
    JSON value (json_msgpack, json_text).

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
#include "ih_err.h"
#include "ih_json.h"

//  libFuzzer's entry points: each target defines LLVMFuzzerTestOneInput
//  and, with IH_FUZZ_INITIALIZE, LLVMFuzzerInitialize
int LLVMFuzzerInitialize (int *argc, char ***argv);
int LLVMFuzzerTestOneInput (const uint8_t *bytes, size_t size);

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

//  Defines LLVMFuzzerInitialize, which libFuzzer calls once before the
//  first input: ih_fuzz_init, then setup, the target's own start-up (an
//  expression such as a call, or nothing). At file scope, with a
//  semicolon: IH_FUZZ_INITIALIZE (); or IH_FUZZ_INITIALIZE (s_setup ());
#define IH_FUZZ_INITIALIZE(setup)                                              \
    int LLVMFuzzerInitialize (int *argc, char ***argv)                         \
    {                                                                          \
        (void) argc;                                                           \
        (void) argv;                                                           \
        ih_fuzz_init ();                                                       \
        setup;                                                                 \
        return 0;                                                              \
    }                                                                          \
    int LLVMFuzzerInitialize (int *argc, char ***argv)

static inline void *
s_fuzz_copy (const uint8_t *bytes, size_t size, size_t capacity)
{
    uint8_t *copy = (uint8_t *) malloc (capacity);
    IH_FUZZ_CHECK (copy);
    if (size)
        memcpy (copy, bytes, size);
    return copy;
}

//  A malloc'ed copy of the input, exactly size bytes, so that ASan sees
//  a read past its end (libFuzzer's buffer is exact too, but the copy is
//  a pointer even for an empty input). Free with free.
static inline uint8_t *
ih_fuzz_copy (const uint8_t *bytes, size_t size)
{
    return (uint8_t *) s_fuzz_copy (bytes, size, size ? size : 1);
}

//  The input as a malloc'ed C string, for the code that takes one: the
//  text ends at the first NUL of the input. Free with free.
static inline char *
ih_fuzz_text (const uint8_t *bytes, size_t size)
{
    char *text = (char *) s_fuzz_copy (bytes, size, size + 1);
    text[size] = 0;
    return text;
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

//  The answer of a config loader, setter or check (ih_hubconf_*,
//  ih_agentconf_*): IH_OK and no message, or IH_E_CONFIG and a message.
//  Frees the message; returns whether rc is IH_OK.
static inline bool
ih_fuzz_config_answer (ih_err_t rc, char **error_p)
{
    IH_FUZZ_CHECK (rc == IH_OK || rc == IH_E_CONFIG);
    IH_FUZZ_CHECK ((rc == IH_OK) == (*error_p == NULL));
    zstr_free (error_p);
    return rc == IH_OK;
}

//  True if a and b pack to the same msgpack bytes. Used instead of
//  json_equal, which in Jansson 2.14 looks keys up with strlen and so
//  calls objects with a key holding NUL ("t\0x", which msgpack allows
//  and ih_json keeps) unequal to themselves.
static inline bool
ih_fuzz_json_same (const json_t *a, const json_t *b)
{
    uint8_t *a_bytes = NULL, *b_bytes = NULL;
    size_t a_size = 0, b_size = 0;
    IH_FUZZ_CHECK (ih_json_to_msgpack (a, &a_bytes, &a_size) == IH_OK);
    IH_FUZZ_CHECK (ih_json_to_msgpack (b, &b_bytes, &b_size) == IH_OK);
    bool same = a_size == b_size && memcmp (a_bytes, b_bytes, a_size) == 0;
    free (a_bytes);
    free (b_bytes);
    return same;
}

//  Packs json with ih_json_to_msgpack and returns its answer. What it
//  packs is 1..IH_EVENT_MAX bytes and reads back with ih_json_from_msgpack
//  into the same value; a refused value gives no bytes.
static inline ih_err_t
ih_fuzz_json_repack (const json_t *json)
{
    uint8_t *packed = NULL;
    size_t packed_size = 0;
    ih_err_t rc = ih_json_to_msgpack (json, &packed, &packed_size);
    if (rc == IH_OK) {
        IH_FUZZ_CHECK (packed && packed_size >= 1 &&
                       packed_size <= IH_EVENT_MAX);
        json_t *again = NULL;
        IH_FUZZ_CHECK (ih_json_from_msgpack (packed, packed_size, &again) ==
                       IH_OK);
        IH_FUZZ_CHECK (ih_fuzz_json_same (json, again));
        json_decref (again);
    } else
        IH_FUZZ_CHECK (packed == NULL && packed_size == 0);
    free (packed);
    return rc;
}

#endif
