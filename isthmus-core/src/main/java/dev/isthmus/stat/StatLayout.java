/*
 * Copyright 2026 The Isthmus Authors
 * SPDX-License-Identifier: Apache-2.0
 */
package dev.isthmus.stat;

/**
 * The layout of a process's stat file, shared by its writer ({@link StatFile}) and readers
 * ({@link StatReader}).
 *
 * <pre>
 * file header (one 512-byte slot):
 *   0  long  magic "ISTATv01"
 *   8  int   version
 *  12  int   slot length (512)
 *  16  int   slot count
 *  20  int   reserved
 *  24  long  pid
 *  32  long  start time (clock ticks after boot)
 *  40  long  records that found no free slot
 * each slot:
 *   0  int   sequence: odd while its description is written, even when stable
 *   4  int   kind: 0 free, else StatKind ordinal + 1
 *   8  long  id (unique in the process)
 *  16  long  parent id (a channel's session; 0 if none)
 *  24  int   label length
 *  32  ...   label (UTF-8, "key=value" lines)
 * 256  long[16] counters 0 to 15 (one writer)
 * 384  long[16] counters 16 to 31 (another writer)
 * </pre>
 */
final class StatLayout {
    static final long MAGIC = 0x3130765441545349L; // "ISTATv01", little-endian
    static final int VERSION = 1;
    static final int SLOT_LENGTH = 512;
    static final int DEFAULT_SLOTS = 4095;

    static final long PID_OFFSET = 24;
    static final long START_TIME_OFFSET = 32;
    static final long DROPPED_OFFSET = 40;
    static final long SLOT_LENGTH_OFFSET = 12;
    static final long SLOT_COUNT_OFFSET = 16;
    static final long VERSION_OFFSET = 8;

    static final long SEQUENCE = 0;
    static final long KIND = 4;
    static final long ID = 8;
    static final long PARENT = 16;
    static final long LABEL_LENGTH = 24;
    static final long LABEL = 32;
    static final int MAX_LABEL_LENGTH = 224;
    static final long COUNTERS = 256;

    /** The name of the memfd, after the configured prefix: {@code <prefix>.process.<pid>.stat.counters}. */
    static final String APP = "process";
    static final String KIND_NAME = "stat";
    static final String ID_NAME = "counters";

    private StatLayout() {
    }

    /** {@return where slot {@code index} (0-based, after the header) starts} */
    static long slot(final int index) {
        return (long) (index + 1) * SLOT_LENGTH;
    }
}
