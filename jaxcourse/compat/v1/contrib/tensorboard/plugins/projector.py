"""TF1's `tensorflow.contrib.tensorboard.plugins.projector`, on the course's projector writer.

    from jaxcourse.compat.v1.contrib.tensorboard.plugins import projector

    config = projector.ProjectorConfig()
    embed = config.embeddings.add()
    embed.tensor_name = embedding.name          # a tf.Variable saved by tf.train.Saver
    embed.metadata_path = "metadata.tsv"
    embed.sprite.image_path = "sprite.png"
    embed.sprite.single_image_dim.extend([28, 28])
    projector.visualize_embeddings(writer, config)   # writes projector_config.pbtxt

writes the same `projector_config.pbtxt` as TF, in the writer's log directory.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from jaxcourse.tensorboard import projector as course_projector


@dataclass
class SpriteMetadata:
    image_path: str = ""
    single_image_dim: list[int] = field(default_factory=list)


@dataclass
class EmbeddingInfo:
    """One embedding of the config (TF's `EmbeddingInfo` message)."""

    tensor_name: str = ""
    metadata_path: str = ""
    tensor_path: str = ""
    tensor_shape: list[int] = field(default_factory=list)
    sprite: SpriteMetadata = field(default_factory=SpriteMetadata)

    def entry(self) -> str:
        if not self.tensor_name:
            raise ValueError("projector: an embedding needs tensor_name (the variable's name)")
        if self.sprite.image_path and len(self.sprite.single_image_dim) != 2:
            raise ValueError(
                "projector: sprite.single_image_dim must hold [width, height], got "
                f"{list(self.sprite.single_image_dim)}"
            )
        return course_projector.embedding_entry(
            self.tensor_name,
            tensor_path=self.tensor_path,
            tensor_shape=self.tensor_shape,
            metadata_path=self.metadata_path,
            sprite_path=self.sprite.image_path,
            sprite_dims=self.sprite.single_image_dim,
        )


class _Embeddings(list):
    def add(self) -> EmbeddingInfo:
        """A new embedding entry, appended (TF's repeated-field `add()`)."""
        info = EmbeddingInfo()
        self.append(info)
        return info


@dataclass
class ProjectorConfig:
    """The projector's configuration: `embeddings.add()` one entry per embedding."""

    model_checkpoint_path: str = ""
    embeddings: _Embeddings = field(default_factory=_Embeddings)

    def to_text(self) -> str:
        head = (
            f'model_checkpoint_path: "{self.model_checkpoint_path}"\n'
            if self.model_checkpoint_path
            else ""
        )
        return head + "".join(e.entry() for e in self.embeddings)


def visualize_embeddings(summary_writer, config: ProjectorConfig) -> None:
    """Write `config` as `projector_config.pbtxt` into the writer's log directory."""
    if not hasattr(summary_writer, "get_logdir"):
        raise TypeError(
            f"visualize_embeddings needs a tf.summary.FileWriter, got {summary_writer!r}"
        )
    if not isinstance(config, ProjectorConfig):
        raise TypeError(f"visualize_embeddings needs a projector.ProjectorConfig, got {config!r}")
    course_projector.write_config(summary_writer.get_logdir(), [config.to_text()])
