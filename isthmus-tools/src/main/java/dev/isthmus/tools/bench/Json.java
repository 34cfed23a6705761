/*
 * Copyright 2026 The Isthmus Authors
 * SPDX-License-Identifier: Apache-2.0
 */
package dev.isthmus.tools.bench;

import java.math.BigDecimal;
import java.math.MathContext;
import java.math.RoundingMode;
import java.util.Iterator;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * Writes maps, lists, strings, numbers and booleans as JSON; enough for benchmark reports.
 */
public final class Json {
    private static final MathContext SIGNIFICANT = new MathContext(6, RoundingMode.HALF_EVEN);
    private Json() {
    }

    /**
     * {@return the JSON text of a value, indented}
     *
     * @param value a {@link Map} with string keys, a {@link List}, a {@link CharSequence}, a {@link Number},
     *              a {@link Boolean} or {@code null}
     */
    public static String write(final Object value) {
        final StringBuilder out = new StringBuilder();
        write(out, value, 0);
        return out.append('\n').toString();
    }

    private static void write(final StringBuilder out, final Object value, final int indent) {
        switch (value) {
            case null -> out.append("null");
            case Map<?, ?> map -> {
                out.append('{');
                final Iterator<? extends Map.Entry<?, ?>> entries = map.entrySet().iterator();
                while (entries.hasNext()) {
                    final Map.Entry<?, ?> entry = entries.next();
                    newline(out, indent + 1);
                    string(out, String.valueOf(entry.getKey()));
                    out.append(": ");
                    write(out, entry.getValue(), indent + 1);
                    if (entries.hasNext()) {
                        out.append(',');
                    }
                }
                if (!map.isEmpty()) {
                    newline(out, indent);
                }
                out.append('}');
            }
            case List<?> list -> {
                out.append('[');
                for (int i = 0; i < list.size(); i++) {
                    newline(out, indent + 1);
                    write(out, list.get(i), indent + 1);
                    if (i + 1 < list.size()) {
                        out.append(',');
                    }
                }
                if (!list.isEmpty()) {
                    newline(out, indent);
                }
                out.append(']');
            }
            case Double d -> out.append(Double.isFinite(d) ? number(d) : "null");
            case Float f -> write(out, f.doubleValue(), indent);
            case Number n -> out.append(n);
            case Boolean b -> out.append(b);
            default -> string(out, value.toString());
        }
    }

    /** Six significant digits in plain notation, without trailing zeros after the point: 547290, 25370000, 0.25. */
    static String number(final double value) {
        return new BigDecimal(value).round(SIGNIFICANT).stripTrailingZeros().toPlainString();
    }

    private static void newline(final StringBuilder out, final int indent) {
        out.append('\n').append("  ".repeat(indent));
    }

    private static void string(final StringBuilder out, final String text) {
        out.append('"');
        for (int i = 0; i < text.length(); i++) {
            final char c = text.charAt(i);
            switch (c) {
                case '"' -> out.append("\\\"");
                case '\\' -> out.append("\\\\");
                case '\n' -> out.append("\\n");
                case '\r' -> out.append("\\r");
                case '\t' -> out.append("\\t");
                default -> {
                    if (c < 0x20) {
                        out.append(String.format(Locale.ROOT, "\\u%04x", (int) c));
                    } else {
                        out.append(c);
                    }
                }
            }
        }
        out.append('"');
    }
}
