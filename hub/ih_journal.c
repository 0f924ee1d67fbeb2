/*  =========================================================================
    ih_journal - the bureau's registry journal: registry changes, signed,
    one per line, waiting to be (or already) in the hub's log

    Where it sits: `incuhub site ...` appends here (ih_journal_append) and
    may push the lines to the hub; a hub started with --registry reads the
    file (ih_journal_read) and feeds each line through ih_registry_admit
    like any event from the network. The journal is a transport, not a
    trust anchor: every line is a signed event the hub checks in full.

    Durability and concurrency: an append holds an exclusive flock(2) on
    the file for its read-sign-write, so two `incuhub site` commands
    cannot give two changes the same seq. It writes the whole line with one
    write(2) on an O_APPEND descriptor and fsyncs the file (and the
    directory, when it created the file), so after it returns the line
    survives a crash. A crash in the middle of the write leaves a last line
    without its '\n': readers ignore it (they only pass '\n'-terminated
    lines) and the next append cuts it off before it writes, so a torn
    line never becomes part of the chain. Readers take no lock: a line is
    either complete or not yet there.

    The file is text, mode 0644 (it holds only public, signed events):
    one line per event, the signed bytes in lower-case hex.
    =========================================================================*/
#include <czmq.h>
#include <sys/file.h>
#include <sys/stat.h>
#include "ih_journal.h"
#include "ih_json.h"

//  Longest line: hex of the largest event, without the '\n'.
#define IH_JOURNAL_LINE_MAX (2 * IH_EVENT_MAX)

//  Reads the whole file behind fd into a malloc'ed buffer.
//  Returns 0, or -1 with errno set.
static int
s_slurp (int fd, char **text_p, size_t *size_p)
{
    size_t size = 0, room = 4096;
    char *text = (char *) malloc (room);
    assert (text);
    while (true) {
        if (size == room) {
            room *= 2;
            char *grown = (char *) realloc (text, room);
            assert (grown);
            text = grown;
        }
        ssize_t got = pread (fd, text + size, room - size, (off_t) size);
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0) {
            int saved = errno;
            free (text);
            errno = saved;
            return -1;
        }
        if (got == 0)
            break;
        size += (size_t) got;
    }
    *text_p = text;
    *size_p = size;
    return 0;
}

static int
s_nibble (char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

//  Decodes a line of lower-case hex (len characters, no '\n') into bytes
//  (room for IH_EVENT_MAX). Returns the byte count, or -1 if the line is
//  empty, odd, too long or not lower-case hex.
static ssize_t
s_unhex (const char *line, size_t len, uint8_t *bytes)
{
    if (len == 0 || len % 2 || len > IH_JOURNAL_LINE_MAX)
        return -1;
    for (size_t i = 0; i < len; i += 2) {
        int high = s_nibble (line[i]);
        int low = s_nibble (line[i + 1]);
        if (high < 0 || low < 0)
            return -1;
        bytes[i / 2] = (uint8_t) (high << 4 | low);
    }
    return (ssize_t) (len / 2);
}

//  Calls each (bytes, size, line number, arg) for every complete line of
//  text; *complete_p gets the length of the complete lines (where a torn
//  last line begins). Returns IH_OK, IH_E_MALFORMED (a line that is not
//  hex, logged with path:line), or stops quietly when each returns
//  non-zero.
static ih_err_t
s_walk (const char *path, const char *text, size_t size,
        int (*each) (const uint8_t *bytes, size_t size, size_t line, void *arg),
        void *arg, size_t *complete_p)
{
    uint8_t *bytes = (uint8_t *) malloc (IH_EVENT_MAX);
    assert (bytes);
    ih_err_t err = IH_OK;
    size_t offset = 0, line = 0;
    while (offset < size) {
        const char *start = text + offset;
        const char *end = (const char *) memchr (start, '\n', size - offset);
        if (!end)
            break; //  torn last line: not there yet
        line++;
        size_t len = (size_t) (end - start);
        ssize_t count = s_unhex (start, len, bytes);
        if (count < 0) {
            zsys_error ("journal: %s:%zu: not a hex-encoded event of at "
                        "most %d bytes",
                        path, line, IH_EVENT_MAX);
            err = IH_E_MALFORMED;
            break;
        }
        offset += len + 1;
        if (each (bytes, (size_t) count, line, arg))
            break;
    }
    free (bytes);
    if (complete_p)
        *complete_p = offset;
    return err;
}

ih_err_t
ih_journal_read (const char *path, ih_journal_fn *fn, void *arg)
{
    if (!path || !fn)
        return IH_E_BADARG;
    int fd = open (path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        zsys_error ("journal: cannot open %s: %s", path, strerror (errno));
        return IH_E_IO;
    }
    char *text;
    size_t size;
    int rc = s_slurp (fd, &text, &size);
    int saved = errno;
    close (fd);
    if (rc) {
        zsys_error ("journal: cannot read %s: %s", path, strerror (saved));
        return IH_E_IO;
    }
    ih_err_t err = s_walk (path, text, size, fn, arg, NULL);
    free (text);
    return err;
}

//  What an append learns from the lines already in the journal.
typedef struct {
    const char *path;
    const char *site;           //  the bureau's id
    ih_err_t err;               //  IH_OK, or why the journal is refused
    uint64_t seq;               //  the last event's seq (0: none)
    uint8_t hash[IH_HASH_SIZE]; //  and its hash
} s_tail_t;

static int
s_tail_fn (const uint8_t *bytes, size_t size, size_t line, void *arg)
{
    s_tail_t *tail = (s_tail_t *) arg;
    ih_event_t event;
    ih_err_t err = ih_event_decode (bytes, size, &event);
    if (err != IH_OK) {
        zsys_error ("journal: %s:%zu: not an event (%s)", tail->path, line,
                    ih_err_name (err));
        tail->err = IH_E_MALFORMED;
        return 1;
    }
    if (!streq (event.site, tail->site)) {
        zsys_error ("journal: %s:%zu: an event of site '%s', not of '%s'",
                    tail->path, line, event.site, tail->site);
        tail->err = IH_E_WRONGSITE;
        return 1;
    }
    tail->seq = event.seq;
    ih_event_hash (bytes, size, tail->hash);
    return 0;
}

//  Signs change as event seq of bureau with prev; checks that what was
//  signed reads back as the same kind of change. Caller frees *bytes_p.
static ih_err_t
s_sign (ih_key_t *bureau, const ih_regchange_t *change, uint64_t seq,
        const uint8_t *prev, uint8_t **bytes_p, size_t *size_p)
{
    char *json = ih_regchange_json (change);
    json_t *object = json ? json_loads (json, 0, NULL) : NULL;
    free (json);
    if (!object) {
        zsys_error ("journal: the registry change does not encode");
        return IH_E_BADARG;
    }
    uint8_t *data = NULL;
    size_t data_size = 0;
    ih_err_t err = ih_json_to_msgpack (object, &data, &data_size);
    json_decref (object);
    if (err != IH_OK) {
        zsys_error ("journal: the registry change does not encode (%s)",
                    ih_err_name (err));
        return IH_E_BADARG;
    }
    ih_event_t event;
    memset (&event, 0, sizeof (event));
    snprintf (event.site, sizeof (event.site), "%s", ih_key_name (bureau));
    snprintf (event.type, sizeof (event.type), "%s",
              ih_regchange_type (change));
    event.seq = seq;
    event.ts = ih_event_now ();
    memcpy (event.prev, prev, IH_HASH_SIZE);
    event.data = data;
    event.data_size = data_size;
    err = ih_event_sign (&event, bureau, bytes_p, size_p);
    free (data);
    if (err != IH_OK) {
        zsys_error ("journal: cannot sign the registry change: %s",
                    ih_err_name (err));
        return IH_E_BADARG;
    }
    //  Never write a line the hub would refuse for its form
    ih_event_t decoded;
    ih_regchange_t back;
    char why[256] = "";
    if (ih_event_decode (*bytes_p, *size_p, &decoded) != IH_OK ||
        ih_regchange_decode (&decoded, &back, why, sizeof why) != IH_OK ||
        back.op != change->op) {
        zsys_error ("journal: invalid registry change: %s", why);
        free (*bytes_p);
        *bytes_p = NULL;
        return IH_E_BADARG;
    }
    return IH_OK;
}

//  Makes the creation of path durable: fsync of its directory.
static void
s_sync_dir (const char *path)
{
    char *dir = strdup (path);
    assert (dir);
    char *slash = strrchr (dir, '/');
    if (slash == dir)
        slash[1] = 0;
    else if (slash)
        *slash = 0;
    else
        strcpy (dir, ".");
    int fd = open (dir, O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        if (fsync (fd))
            zsys_warning ("journal: fsync %s: %s", dir, strerror (errno));
        close (fd);
    }
    free (dir);
}

ih_err_t
ih_journal_append (const char *path, ih_key_t *bureau,
                   const ih_regchange_t *change, uint8_t **bytes_p,
                   size_t *size_p)
{
    if (bytes_p)
        *bytes_p = NULL;
    if (size_p)
        *size_p = 0;
    if (!path || !bureau || !change || !ih_key_has_secret (bureau))
        return IH_E_BADARG;

    ih_err_t err = IH_E_IO;
    char *text = NULL;
    char *line = NULL;
    uint8_t *bytes = NULL;
    size_t size = 0;
    bool created = true;
    int fd =
        open (path, O_RDWR | O_APPEND | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0 && errno == EEXIST) {
        created = false;
        fd = open (path, O_RDWR | O_APPEND | O_CLOEXEC);
    }
    if (fd < 0) {
        zsys_error ("journal: cannot open %s: %s", path, strerror (errno));
        goto cleanup;
    }
    //  Public data: readable by all, whatever the umask
    if (created && fchmod (fd, 0644)) {
        zsys_error ("journal: chmod %s: %s", path, strerror (errno));
        goto cleanup;
    }
    if (flock (fd, LOCK_EX)) {
        zsys_error ("journal: cannot lock %s: %s", path, strerror (errno));
        goto cleanup;
    }
    size_t text_size;
    if (s_slurp (fd, &text, &text_size)) {
        zsys_error ("journal: cannot read %s: %s", path, strerror (errno));
        goto cleanup;
    }
    s_tail_t tail = {path, ih_key_name (bureau), IH_OK, 0, {0}};
    size_t complete = 0;
    err = s_walk (path, text, text_size, s_tail_fn, &tail, &complete);
    if (err == IH_OK)
        err = tail.err;
    if (err != IH_OK)
        goto cleanup;
    err = IH_E_IO;
    if (complete < text_size) {
        zsys_warning ("journal: %s: cutting off a torn last line of %zu "
                      "bytes",
                      path, text_size - complete);
        if (ftruncate (fd, (off_t) complete)) {
            zsys_error ("journal: cannot truncate %s: %s", path,
                        strerror (errno));
            goto cleanup;
        }
    }
    err = s_sign (bureau, change, tail.seq + 1, tail.hash, &bytes, &size);
    if (err != IH_OK)
        goto cleanup;
    err = IH_E_IO;
    size_t line_size = 2 * size + 1;
    line = (char *) malloc (line_size + 1);
    assert (line);
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < size; i++) {
        line[2 * i] = digits[bytes[i] >> 4];
        line[2 * i + 1] = digits[bytes[i] & 15];
    }
    line[2 * size] = '\n';
    //  One write(2) of the whole line: a crash leaves all of it or a torn
    //  tail that readers ignore
    ssize_t written = write (fd, line, line_size);
    if (written != (ssize_t) line_size) {
        zsys_error ("journal: cannot write %s: %s", path,
                    written < 0 ? strerror (errno) : "short write");
        if (written > 0 && ftruncate (fd, (off_t) complete))
            zsys_error ("journal: cannot cut the torn line off %s", path);
        goto cleanup;
    }
    if (fsync (fd)) {
        zsys_error ("journal: fsync %s: %s", path, strerror (errno));
        goto cleanup;
    }
    if (created)
        s_sync_dir (path);
    if (bytes_p) {
        *bytes_p = bytes;
        bytes = NULL;
    }
    if (size_p)
        *size_p = size;
    err = IH_OK;

cleanup:
    if (fd >= 0)
        close (fd); //  releases the lock
    free (text);
    free (line);
    free (bytes);
    return err;
}

//  --------------------------------------------------------------------------
//  Selftest

#include "ih_hubtest.h"

typedef struct {
    size_t count;
    uint64_t seqs[16];
    uint8_t last_hash[IH_HASH_SIZE];
    uint8_t prev[IH_HASH_SIZE];
    bool chained;
} s_test_read_t;

static int
s_test_read_fn (const uint8_t *bytes, size_t size, size_t line, void *arg)
{
    s_test_read_t *read = (s_test_read_t *) arg;
    ih_event_t event;
    assert (ih_event_decode (bytes, size, &event) == IH_OK);
    assert (line == read->count + 1);
    if (memcmp (event.prev, read->last_hash, IH_HASH_SIZE) != 0)
        read->chained = false;
    ih_event_hash (bytes, size, read->last_hash);
    if (read->count < 16)
        read->seqs[read->count] = event.seq;
    read->count++;
    return 0;
}

static int
s_test_stop_fn (const uint8_t *bytes, size_t size, size_t line, void *arg)
{
    (void) bytes;
    (void) size;
    *(size_t *) arg = line;
    return 1;
}

static void
s_test_append_text (const char *path, const char *text)
{
    FILE *file = fopen (path, "a");
    assert (file);
    fputs (text, file);
    fclose (file);
}

static ih_err_t
s_test_read (const char *path, s_test_read_t *read)
{
    memset (read, 0, sizeof (*read));
    read->chained = true;
    return ih_journal_read (path, s_test_read_fn, read);
}

void
ih_journal_test (bool verbose)
{
    printf (" * ih_journal: ");
    if (verbose)
        printf ("\n");

    ih_hubtest_t *test = ih_hubtest_new ("ih_journal_test");
    const char *path = test->journal;
    ih_key_t *bureau = test->bureau;
    ih_key_t *site = ih_key_new ("lh-inc-01");
    assert (site);

    //  A missing journal
    s_test_read_t read;
    assert (s_test_read (path, &read) == IH_E_IO);

    //  Three changes; the file is created 0644 whatever the umask
    ih_regchange_t change;
    ih_hubtest_site_added (&change, site, "incubator", "laoshan");
    mode_t umask_was = umask (077);
    uint8_t *bytes = NULL;
    size_t size = 0;
    assert (ih_journal_append (path, bureau, &change, &bytes, &size) == IH_OK);
    umask (umask_was);
    struct stat st;
    assert (stat (path, &st) == 0);
    assert ((st.st_mode & 0777) == 0644);
    assert (bytes && size > IH_KEY_SIG_SIZE);
    assert ((size_t) st.st_size == 2 * size + 1);
    ih_event_t event;
    assert (ih_event_decode (bytes, size, &event) == IH_OK);
    assert (streq (event.site, "qd-bureau") && event.seq == 1);
    assert (streq (event.type, IH_REG_SITE_ADDED));
    assert (ih_event_verify (bytes, size, ih_key_public (bureau)) == IH_OK);
    ih_regchange_t back;
    char why[256];
    assert (ih_regchange_decode (&event, &back, why, sizeof why) == IH_OK);
    assert (streq (back.site, "lh-inc-01") && streq (back.kind, "incubator"));
    free (bytes);

    const char *anything[] = {"*", NULL};
    ih_hubtest_permissions (&change, "incubator", IH_READ_OWN, anything);
    assert (ih_journal_append (path, bureau, &change, NULL, NULL) == IH_OK);
    ih_hubtest_key_revoked (&change, "lh-inc-01", NULL);
    assert (ih_journal_append (path, bureau, &change, NULL, NULL) == IH_OK);

    //  Read back: three lines, seqs 1..3, one chain
    assert (s_test_read (path, &read) == IH_OK);
    assert (read.count == 3 && read.chained);
    assert (read.seqs[0] == 1 && read.seqs[1] == 2 && read.seqs[2] == 3);
    size_t stopped = 0;
    assert (ih_journal_read (path, s_test_stop_fn, &stopped) == IH_OK);
    assert (stopped == 1);

    //  A torn last line is ignored by readers and cut by the next append
    assert (stat (path, &st) == 0);
    off_t good_size = st.st_size;
    s_test_append_text (path, "0123abcd");
    assert (s_test_read (path, &read) == IH_OK);
    assert (read.count == 3);
    ih_hubtest_key_rotated (&change, site, 10);
    assert (ih_journal_append (path, bureau, &change, &bytes, &size) == IH_OK);
    assert (stat (path, &st) == 0);
    assert (st.st_size == good_size + (off_t) (2 * size + 1));
    free (bytes);
    assert (s_test_read (path, &read) == IH_OK);
    assert (read.count == 4 && read.chained && read.seqs[3] == 4);

    //  An invalid change is refused and nothing is written
    ih_hubtest_key_rotated (&change, site, 1); //  from_seq must be >= 2
    assert (ih_journal_append (path, bureau, &change, NULL, NULL) ==
            IH_E_BADARG);
    assert (stat (path, &st) == 0);
    assert (st.st_size == good_size + (off_t) (2 * size + 1));

    //  A key without its secret cannot sign
    ih_key_t *public_only =
        ih_key_new_public ("qd-bureau", ih_key_public (bureau));
    ih_hubtest_key_revoked (&change, "lh-inc-01", NULL);
    assert (ih_journal_append (path, public_only, &change, NULL, NULL) ==
            IH_E_BADARG);
    ih_key_destroy (&public_only);

    //  Another site's journal is refused
    ih_key_t *other = ih_key_new ("qd-bureau-2");
    assert (ih_journal_append (path, other, &change, NULL, NULL) ==
            IH_E_WRONGSITE);
    ih_key_destroy (&other);

    //  A line that is not hex: MALFORMED, the lines before it are passed
    //  (the log names line 5)
    s_test_append_text (path, "00zz\n");
    assert (s_test_read (path, &read) == IH_E_MALFORMED);
    assert (read.count == 4);
    assert (ih_journal_append (path, bureau, &change, NULL, NULL) ==
            IH_E_MALFORMED);
    //  ... as are upper-case hex, odd length and an empty line
    const char *bad_lines[] = {"ABCD\n", "abc\n", "\n"};
    for (size_t i = 0; i < sizeof bad_lines / sizeof bad_lines[0]; i++) {
        FILE *file = fopen (path, "w");
        assert (file);
        fputs (bad_lines[i], file);
        fclose (file);
        assert (s_test_read (path, &read) == IH_E_MALFORMED);
        assert (read.count == 0);
    }
    //  Hex of something that is not an event: the reader passes it (it
    //  does not decode), an append refuses the journal
    FILE *file = fopen (path, "w");
    assert (file);
    fputs ("00ff\n", file);
    fclose (file);
    stopped = 0;
    assert (ih_journal_read (path, s_test_stop_fn, &stopped) == IH_OK);
    assert (stopped == 1);
    assert (ih_journal_append (path, bureau, &change, NULL, NULL) ==
            IH_E_MALFORMED);
    //  An empty file is an empty journal
    file = fopen (path, "w");
    assert (file);
    fclose (file);
    assert (s_test_read (path, &read) == IH_OK && read.count == 0);
    assert (ih_journal_append (path, bureau, &change, NULL, NULL) == IH_OK);
    assert (s_test_read (path, &read) == IH_OK && read.count == 1);
    assert (read.seqs[0] == 1);

    //  Unwritable place
    char *nowhere = ih_hubtest_path (test, "no/such/dir/journal");
    assert (ih_journal_append (nowhere, bureau, &change, NULL, NULL) ==
            IH_E_IO);
    zstr_free (&nowhere);

    ih_key_destroy (&site);
    ih_hubtest_destroy (&test);
    printf ("OK\n");
}
