/*
 * Copyright 2026 The Isthmus Authors
 * SPDX-License-Identifier: Apache-2.0
 */
package dev.isthmus.test;

import org.junit.jupiter.api.extension.ConditionEvaluationResult;
import org.junit.jupiter.api.extension.ExecutionCondition;
import org.junit.jupiter.api.extension.ExtensionContext;
import org.junit.platform.commons.support.AnnotationSupport;

import java.util.Optional;

/** Skips a {@link RootOnly} test, with its reason, unless this JVM runs as root. */
public final class RootOnlyCondition implements ExecutionCondition {
    @Override
    public ConditionEvaluationResult evaluateExecutionCondition(final ExtensionContext context) {
        final Optional<RootOnly> rootOnly = context.getElement()
            .flatMap(element -> AnnotationSupport.findAnnotation(element, RootOnly.class));
        if (rootOnly.isEmpty() || Privileges.isRoot()) {
            return ConditionEvaluationResult.enabled("runs as root, or needs no root");
        }
        return ConditionEvaluationResult.disabled("needs root: " + rootOnly.get().value()
            + "; this run is uid " + dev.isthmus.internal.linux.Credentials.effectiveUid()
            + " (.ci/run runs these as root: mvn verify -Proot-only)");
    }
}
