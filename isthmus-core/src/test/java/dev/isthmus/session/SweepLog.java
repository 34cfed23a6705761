/*
 * Copyright 2026 The Isthmus Authors
 * SPDX-License-Identifier: Apache-2.0
 */
package dev.isthmus.session;

import java.util.ArrayList;
import java.util.List;
import java.util.logging.Handler;
import java.util.logging.Level;
import java.util.logging.LogRecord;
import java.util.logging.Logger;

/**
 * Collects what {@link SessionServer}'s start-up sweep reports through its {@link System.Logger}, which the
 * JDK's default {@link System.LoggerFinder} backs with {@code java.util.logging}.
 */
final class SweepLog extends Handler implements AutoCloseable {
    private final Logger logger = logger();
    private final List<LogRecord> records = new ArrayList<>();

    SweepLog() {
        logger.addHandler(this);
    }

    /** {@return the {@code java.util.logging} logger behind the sweep's {@link System.Logger}} */
    static Logger logger() {
        return Logger.getLogger(SessionServer.class.getName());
    }

    @Override
    public synchronized void publish(final LogRecord record) {
        records.add(record);
    }

    /**
     * {@return the messages logged at this level}
     *
     * @param level e.g. {@link Level#INFO}
     */
    synchronized List<String> messages(final Level level) {
        return records.stream().filter(record -> record.getLevel() == level).map(LogRecord::getMessage).toList();
    }

    @Override
    public void flush() {
    }

    @Override
    public void close() {
        logger.removeHandler(this);
    }
}
