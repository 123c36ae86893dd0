"""Caption texts shared by the engine and model-choice benchmarks (written for these benches)."""

CAPTIONS = [
    "Axial T2-weighted MRI of the brain showing a hyperintense lesion in the left temporal lobe (arrow).",
    "Bar chart of mean tumour volume in treated versus control mice over 21 days; error bars show SEM.",
    "H&E staining of a liver biopsy showing macrovesicular steatosis and lobular inflammation.",
    "Kaplan-Meier survival curves for patients stratified by PD-L1 expression (log-rank p = 0.003).",
    "Chest radiograph showing right lower lobe consolidation and a small pleural effusion.",
    "Western blot of p53 and GAPDH in HeLa cells after 24 h cisplatin treatment.",
    "Confocal images of neurons stained for MAP2 (green) and synaptophysin (red); scale bar 20 um.",
    "Scatter plot of HbA1c against BMI in 412 adults with type 2 diabetes; line shows linear fit.",
]
