"""What the chapters show: runs as tidy tables (`records`), what is computed from predictions before it is shown
(`analysis`), and the book's figures (`figures`). A chapter imports `bannb.report` and finds all three here."""
from __future__ import annotations

from bannb.report.analysis import (  # noqa: F401
    class_mean_outputs,
    disagreement,
    ensemble_diversity_records,
    lr_marks,
    soft_target_examples,
    top_confusion_share,
    true_class_probability,
)
from bannb.report.figures import (  # noqa: F401
    ERROR_FLOOR,
    STUDENT_AXES,
    VERDICT_COLORS,
    plot_against_floor,
    plot_born_again_diagram,
    plot_claims_forest,
    plot_class_differences,
    plot_class_heatmap,
    plot_cwtm_weights,
    plot_ensemble_sizes,
    plot_errors,
    plot_fidelity_against_gain,
    plot_fit_curves,
    plot_gain_against_mass,
    plot_last_epochs,
    plot_learning_curves,
    plot_lm_curves,
    plot_paired_seeds,
    plot_patience,
    plot_paper_rows,
    plot_regime_study,
    plot_relative_changes,
    plot_soft_targets,
    plot_step_speedups,
    plot_student_differences,
    plot_true_class_probability,
)
from bannb.report.records import (  # noqa: F401
    ensemble_records,
    final_fields,
    format_mean_std,
    lm_metrics_records,
    lm_run_records,
    mean_std,
    metrics_records,
    record_runs,
    run_records,
)
