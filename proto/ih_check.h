/*  =========================================================================
    ih_check - the selftest check of proto/

    The ih_<module>_test selftests of proto/ check their expectations with
    ih_check rather than assert: assert vanishes under NDEBUG (the Release
    and RelWithDebInfo builds), and a selftest that checks nothing in the
    build that ships proves nothing. A failed check prints file:line and
    the condition, then aborts, so ctest reports the unit test as failed.

    Only for selftests: code that handles input returns an ih_err_t
    instead, and programmer errors stay plain asserts.

    Not part of the public API: only the .c files of proto/ include it.
    =========================================================================*/
#ifndef IH_CHECK_H_INCLUDED
#define IH_CHECK_H_INCLUDED

#include <stdio.h>
#include <stdlib.h>

//  Evaluates cond once; if it is false, prints "file:line: check failed:
//  cond" to stderr and aborts. Kept whatever NDEBUG says.
#define ih_check(cond)                                                         \
    do {                                                                       \
        if (!(cond)) {                                                         \
            fprintf (stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__,  \
                     #cond);                                                   \
            abort ();                                                          \
        }                                                                      \
    } while (0)

#endif
