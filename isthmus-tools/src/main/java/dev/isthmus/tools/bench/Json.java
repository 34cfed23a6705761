/*
 * Copyright 2026 The Isthmus Authors
 * SPDX-License-Identifier: Apache-2.0
 */
package dev.isthmus.tools.bench;

import java.math.BigDecimal;
import java.math.MathContext;
import java.math.RoundingMode;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * Writes maps, lists, strings, numbers and booleans as JSON, and reads them back; enough for benchmark
 * reports and for the figures a benchmark JVM hands to another.
 *
 * <p>All methods are thread-safe (they keep no state).
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

    /**
     * {@return the JSON text of a value on one line, without a line terminator, every {@code double} in full
     * ({@link Double#toString}) so that {@link #parse} gives it back exactly}
     *
     * @param value what {@link #write} takes
     */
    public static String writeLine(final Object value) {
        final StringBuilder out = new StringBuilder();
        write(out, value, -1);
        return out.toString();
    }

    /**
     * {@return the value of a JSON text: a {@link Map} (in document order) for an object, a {@link List} for
     * an array, a {@link String}, a {@link Long} for an integer that fits one and a {@link Double} for any
     * other number, a {@link Boolean}, or {@code null}}
     *
     * @param text one JSON value, with any white space around it
     * @throws IllegalArgumentException if the text is not one JSON value
     */
    public static Object parse(final CharSequence text) {
        final Parser parser = new Parser(text);
        final Object value = parser.value();
        parser.skipWhitespace();
        if (parser.position != text.length()) {
            throw parser.error("the end of the text");
        }
        return value;
    }

    /** An indent below 0 writes on one line, doubles in full. */
    private static void write(final StringBuilder out, final Object value, final int indent) {
        switch (value) {
            case null -> out.append("null");
            case Map<?, ?> map -> {
                out.append('{');
                final Iterator<? extends Map.Entry<?, ?>> entries = map.entrySet().iterator();
                while (entries.hasNext()) {
                    final Map.Entry<?, ?> entry = entries.next();
                    newline(out, next(indent));
                    string(out, String.valueOf(entry.getKey()));
                    out.append(indent < 0 ? ":" : ": ");
                    write(out, entry.getValue(), next(indent));
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
                    newline(out, next(indent));
                    write(out, list.get(i), next(indent));
                    if (i + 1 < list.size()) {
                        out.append(',');
                    }
                }
                if (!list.isEmpty()) {
                    newline(out, indent);
                }
                out.append(']');
            }
            case Double d -> out.append(!Double.isFinite(d) ? "null" : indent < 0 ? Double.toString(d) : number(d));
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

    private static int next(final int indent) {
        return indent < 0 ? indent : indent + 1;
    }

    private static void newline(final StringBuilder out, final int indent) {
        if (indent >= 0) {
            out.append('\n').append("  ".repeat(indent));
        }
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

    /** Reads one value at a time from a text, recursively; not thread-safe (one per {@link #parse}). */
    private static final class Parser {
        private final CharSequence text;
        private int position;

        Parser(final CharSequence text) {
            this.text = text;
        }

        Object value() {
            skipWhitespace();
            if (position == text.length()) {
                throw error("a value");
            }
            return switch (text.charAt(position)) {
                case '{' -> object();
                case '[' -> array();
                case '"' -> string();
                case 't' -> literal("true", Boolean.TRUE);
                case 'f' -> literal("false", Boolean.FALSE);
                case 'n' -> literal("null", null);
                default -> number();
            };
        }

        private Map<String, Object> object() {
            final Map<String, Object> map = new LinkedHashMap<>();
            position++;
            skipWhitespace();
            if (peek() == '}') {
                position++;
                return map;
            }
            while (true) {
                skipWhitespace();
                if (peek() != '"') {
                    throw error("a key (a string)");
                }
                final String key = string();
                skipWhitespace();
                expect(':');
                map.put(key, value());
                skipWhitespace();
                if (peek() == ',') {
                    position++;
                } else {
                    expect('}');
                    return map;
                }
            }
        }

        private List<Object> array() {
            final List<Object> list = new ArrayList<>();
            position++;
            skipWhitespace();
            if (peek() == ']') {
                position++;
                return list;
            }
            while (true) {
                list.add(value());
                skipWhitespace();
                if (peek() == ',') {
                    position++;
                } else {
                    expect(']');
                    return list;
                }
            }
        }

        private String string() {
            final StringBuilder out = new StringBuilder();
            position++;
            while (true) {
                if (position >= text.length()) {
                    throw error("the end of the string");
                }
                final char c = text.charAt(position++);
                if (c == '"') {
                    return out.toString();
                }
                if (c < 0x20) {
                    throw error("no control character in a string");
                }
                if (c != '\\') {
                    out.append(c);
                    continue;
                }
                if (position >= text.length()) {
                    throw error("an escape");
                }
                final char escaped = text.charAt(position++);
                switch (escaped) {
                    case '"', '\\', '/' -> out.append(escaped);
                    case 'b' -> out.append('\b');
                    case 'f' -> out.append('\f');
                    case 'n' -> out.append('\n');
                    case 'r' -> out.append('\r');
                    case 't' -> out.append('\t');
                    case 'u' -> {
                        if (position + 4 > text.length()) {
                            throw error("four hex digits");
                        }
                        try {
                            out.append((char) Integer.parseInt(text, position, position + 4, 16));
                        } catch (final NumberFormatException e) {
                            throw error("four hex digits");
                        }
                        position += 4;
                    }
                    default -> throw error("a known escape, not \\" + escaped);
                }
            }
        }

        private Object number() {
            final int start = position;
            if (peek() == '-') {
                position++;
            }
            if (peek() == '0') {
                position++;
            } else if (!digits()) {
                throw error("a value");
            }
            boolean integral = true;
            if (peek() == '.') {
                position++;
                integral = false;
                if (!digits()) {
                    throw error("digits after the point");
                }
            }
            if (peek() == 'e' || peek() == 'E') {
                position++;
                integral = false;
                if (peek() == '+' || peek() == '-') {
                    position++;
                }
                if (!digits()) {
                    throw error("digits of the exponent");
                }
            }
            final String literal = text.subSequence(start, position).toString();
            if (integral) {
                try {
                    return Long.parseLong(literal);
                } catch (final NumberFormatException e) {
                    // too large for a long: a double, as for any other number
                }
            }
            return Double.parseDouble(literal);
        }

        /** Skips digits; whether there was at least one. */
        private boolean digits() {
            final int start = position;
            while (position < text.length() && text.charAt(position) >= '0' && text.charAt(position) <= '9') {
                position++;
            }
            return position > start;
        }

        private Object literal(final String word, final Object value) {
            if (position + word.length() > text.length()
                || !text.subSequence(position, position + word.length()).toString().equals(word)) {
                throw error("a value");
            }
            position += word.length();
            return value;
        }

        private void expect(final char c) {
            if (peek() != c) {
                throw error("'" + c + "'");
            }
            position++;
        }

        /** The character at the position, or 0 at the end. */
        private char peek() {
            return position < text.length() ? text.charAt(position) : 0;
        }

        void skipWhitespace() {
            while (position < text.length() && " \t\r\n".indexOf(text.charAt(position)) >= 0) {
                position++;
            }
        }

        IllegalArgumentException error(final String expected) {
            return new IllegalArgumentException("JSON: expected " + expected + " at offset " + position + " of "
                + text.length());
        }
    }
}
