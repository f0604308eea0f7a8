"""Reference solutions of the course's exercises, one module per chapter (``chNN_<topic>``).

Each module holds the references, whose source the notebook pipeline pastes into the exercise
cells (so a notebook's stub and its reference cannot drift), and an ``EXERCISES`` list that
``course.exercises.registry()`` collects. Try an exercise before reading its solution.
"""
