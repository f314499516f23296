"""What the book studies, as data and tested functions: the profiles (`profiles`), the paper's claims (`claims`)
judged by one rule (`stats`), when a teacher is finished (`convergence`), generations and ensembles
(`generations`), the paper's own figures (`paper`) and each chapter's runs (`experiments`)."""
