/*  =========================================================================
    it_audit_tamper - a changed byte in a copy of the log fails the audit

    Twenty events go through a real hub into a real LMDB log (after the
    bureau's registry events, which take the first hub sequences). The
    audit of the log passes. In a copy of the data file one byte of one stored
    event's payload is changed (LMDB has no checksums, so only our
    signatures can notice); `incuhub audit` on the copy must exit 3 and name
    that event's hub sequence. The other ways of tampering (records
    removed, swapped, cut off, forged, added) are in it_audit_cases.
    =========================================================================*/
#define _GNU_SOURCE //  memmem
#include <sys/stat.h>
#include "ih_testkit.h"

#define S_EVENTS 20
#define S_VICTIM 13

int
main (void)
{
    const char *dir = ih_tk_tempdir ();
    char data[512], copy[512], registry[512], ingest[256], pub[256];
    ih_tk_paths (dir, data, registry, ingest, pub);
    snprintf (copy, sizeof copy, "%s/copy", dir);
    ih_tk_site_t site;
    ih_tk_site_init (&site, dir, registry, "laixi-inc-02", "incubator",
                     "laixi");
    ih_proc_t *hub =
        ih_tk_hub_start (dir, data, registry, ingest, pub, NULL, NULL);
    //  The bureau's registry events take the log's first hub_seqs
    uint64_t base = ih_tk_journal_count (registry);
    zsock_t *dealer = zsock_new_dealer (ingest);
    zsock_set_rcvtimeo (dealer, 5000);
    for (int n = 1; n <= S_EVENTS; n++) {
        char json[128];
        snprintf (json, sizeof json, "{\"marker\":\"marker-%04d\"}", n);
        size_t size;
        uint8_t *bytes = ih_tk_site_sign (&site, "mentor.joined", json, &size);
        zmsg_t *msg = ih_wire_event (bytes, size);
        free (bytes);
        zmsg_send (&msg, dealer);
        zmsg_t *reply = zmsg_recv (dealer);
        ih_wire_t wire;
        IH_CHECK (
            reply && ih_wire_decode (reply, &wire) == IH_OK &&
                wire.kind == IH_WIRE_ACK && wire.hub_seq == base + (uint64_t) n,
            "event %d not acked as hub_seq %" PRIu64, n, base + (uint64_t) n);
        zmsg_destroy (&reply);
    }
    zsock_destroy (&dealer);
    ih_tk_stop (&hub, "hub");

    IH_CHECK (ih_tk_audit (dir, data, registry, NULL, NULL) == 0,
              "audit of the untouched log failed");

    //  Copy the log and change one byte of event 13's payload.
    mkdir (copy, 0700);
    char from[600], to[600];
    snprintf (from, sizeof from, "%s/data.mdb", data);
    snprintf (to, sizeof to, "%s/data.mdb", copy);
    ih_tk_copy (from, to);
    FILE *file = fopen (to, "r+b");
    IH_CHECK (file, "open copy");
    fseek (file, 0, SEEK_END);
    long size = ftell (file);
    char *image = (char *) malloc ((size_t) size);
    fseek (file, 0, SEEK_SET);
    IH_CHECK (fread (image, 1, (size_t) size, file) == (size_t) size, "read");
    char needle[32];
    snprintf (needle, sizeof needle, "marker-%04d", S_VICTIM);
    //  LMDB is copy-on-write: stale copies of a page may remain in free
    //  pages, so change the byte in every copy; only the live one matters.
    int changed = 0;
    char *at = image;
    while ((at = (char *) memmem (at, (size_t) (image + size - at), needle,
                                  strlen (needle)))) {
        long offset = (long) (at - image) + (long) strlen (needle) - 1;
        fseek (file, offset, SEEK_SET);
        fputc ('X', file);
        changed++;
        at += strlen (needle);
    }
    IH_CHECK (changed > 0, "victim payload not found in data.mdb");
    fclose (file);
    free (image);

    char *err = NULL;
    int status = ih_tk_audit (dir, copy, registry, NULL, &err);
    IH_CHECK (status == 3, "audit of the tampered copy exited %d", status);
    char pattern[64];
    snprintf (pattern, sizeof pattern, "hub_seq=%" PRIu64 ":", base + S_VICTIM);
    IH_CHECK (strstr (err, "FAILED") && strstr (err, pattern),
              "audit did not name %s: %s", pattern, err);
    free (err);
    ih_tk_site_fini (&site);
    ih_tk_cleanup ();
    printf ("it_audit_tamper: OK\n");
    return 0;
}
